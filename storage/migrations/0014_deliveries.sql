-- Deliveries: one row per notification per external channel (email, SMS, WhatsApp), planned
-- by the dispatcher in the transaction that turns an outbox row into an inbox notification.

-- Which channels a user wants per notification type ('*' = every type without its own row),
-- and quiet hours in the tenant's timezone (normal and low priority wait until they end).
CREATE TABLE notification_preferences (
    user_id    uuid NOT NULL REFERENCES users (id),
    tenant_id  uuid REFERENCES tenants (id),
    type       text NOT NULL,
    channels   text[] NOT NULL
        CHECK (channels <@ ARRAY['in_app', 'email', 'sms', 'whatsapp']::text[]),
    PRIMARY KEY (user_id, type)
);
ALTER TABLE users ADD COLUMN quiet_start time;
ALTER TABLE users ADD COLUMN quiet_end time;

CREATE TABLE deliveries (
    id                   uuid PRIMARY KEY,
    outbox_id            bigint NOT NULL REFERENCES outbox_events (id),
    notification_id      uuid REFERENCES notifications (id),
    tenant_id            uuid REFERENCES tenants (id),
    user_id              uuid NOT NULL REFERENCES users (id),
    channel              text NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    kind                 text NOT NULL,
    language             text NOT NULL,
    recipient            text NOT NULL,
    data                 jsonb NOT NULL,
    status               text NOT NULL CHECK (status IN (
        'queued', 'sending', 'sent', 'failed', 'dead', 'skipped_insufficient_credits')),
    attempts             integer NOT NULL DEFAULT 0,
    last_error           text,
    provider_message_id  text,
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),
    lease_until          timestamptz,
    -- Credits are reserved as the pending transfer 'delivery:<id>:<generation>'; a requeue of
    -- a dead delivery starts a new generation (the old pending transfer was voided).
    credits_reserved     boolean NOT NULL DEFAULT false,
    generation           integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    sent_at              timestamptz,
    -- One delivery per notification and channel, however often the dispatch is retried.
    UNIQUE (outbox_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('queued', 'failed', 'sending');
CREATE INDEX deliveries_by_status ON deliveries (status, updated_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notification_preferences', 'deliveries']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
