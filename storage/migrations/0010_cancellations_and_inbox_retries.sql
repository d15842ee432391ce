-- One cancellation decision per booking (refund percentage, amount, where it goes), taken once:
-- repeating a cancellation, even asking for another destination, refunds nothing more.
CREATE TABLE booking_cancellations (
    hold_id         uuid PRIMARY KEY REFERENCES holds (id),
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    refund_percent  integer NOT NULL CHECK (refund_percent BETWEEN 0 AND 100),
    refund_paise    bigint NOT NULL CHECK (refund_paise >= 0),
    refunded_to     text CHECK (refunded_to IN ('source', 'wallet')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Webhooks that cannot be applied yet are retried later with backoff instead of blocking the
-- ones behind them.
ALTER TABLE webhook_inbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE webhook_inbox ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at, id) WHERE processed_at IS NULL;
