-- Paying a slot hold from a wallet spans two logical actors (the tenant's inventory and the
-- user's wallet), so the steps are recorded here and a sweeper finishes any that a crash left
-- half done: reserved (wallet pending) → done (hold confirmed, payment posted) or voided.
CREATE TABLE hold_payments (
    hold_id       uuid PRIMARY KEY REFERENCES holds (id),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    wallet_id     uuid NOT NULL REFERENCES ledger_accounts (id),
    amount_paise  bigint NOT NULL CHECK (amount_paise >= 0),
    pending_id    text NOT NULL,
    state         text NOT NULL CHECK (state IN ('reserved', 'done', 'voided')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hold_payments_open ON hold_payments (created_at) WHERE state = 'reserved';
ALTER TABLE hold_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON hold_payments TO seva_tenant
    USING (tenant_id = seva_current_tenant()) WITH CHECK (tenant_id = seva_current_tenant());
GRANT SELECT, INSERT, UPDATE ON hold_payments TO seva_tenant;
