-- A double-entry ledger in integer minor units, modelled on TigerBeetle: accounts with
-- posted/pending debit and credit totals, immutable transfers, two-phase (pending → post |
-- void | expire) with each pending transfer resolved at most once.

CREATE TABLE ledger_accounts (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- user_wallet, tenant_credits, platform_revenue, gateway_clearing, gateway_fees,
    -- tenant_payable, credit_inventory, credit_vendor, credit_sales, credit_cost,
    -- vendor_payable, credit_consumed, coin_issuance, wallet_holds, ...
    code                    text NOT NULL CHECK (code ~ '^[a-z_]{2,40}$'),
    currency                text NOT NULL CHECK (currency IN ('INR', 'COIN', 'SMS', 'WHATSAPP', 'EMAIL')),
    tenant_id               uuid REFERENCES tenants (id),
    owner_user_id           uuid REFERENCES users (id),
    -- TigerBeetle's flag: debits (posted + pending) may never exceed posted credits.
    debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
    debits_posted           bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted          bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending          bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending         bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    low_balance_threshold   bigint CHECK (low_balance_threshold >= 0),
    low_balance_notified    boolean NOT NULL DEFAULT false,
    version                 bigint NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT debits_must_not_exceed_credits
           OR debits_posted + debits_pending <= credits_posted)
);
CREATE UNIQUE INDEX ledger_accounts_identity ON ledger_accounts (
    code, currency,
    coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid),
    coalesce(owner_user_id, '00000000-0000-0000-0000-000000000000'::uuid)
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_user_id) WHERE owner_user_id IS NOT NULL;

-- Transfers are the entries: each debits one account and credits another by the same amount.
-- kind: single (posted at once), pending (reserved), post (posts a pending, fully or partly),
-- void (releases a pending). Never updated, never deleted.
CREATE TABLE ledger_transfers (
    id                 text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    seq                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind               text NOT NULL CHECK (kind IN ('single', 'pending', 'post', 'void')),
    debit_account_id   uuid NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id  uuid NOT NULL REFERENCES ledger_accounts (id),
    amount             bigint NOT NULL CHECK (amount >= 0),
    currency           text NOT NULL,
    pending_id         text REFERENCES ledger_transfers (id),
    timeout_at         timestamptz,
    code               text NOT NULL DEFAULT '',
    linked_group       text,
    user_data          jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((kind IN ('post', 'void')) = (pending_id IS NOT NULL))
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id, seq);
CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id, seq);

-- How each pending transfer ended; the primary key makes "at most once" a database fact.
CREATE TABLE ledger_pending_resolutions (
    pending_id       text PRIMARY KEY REFERENCES ledger_transfers (id),
    status           text NOT NULL CHECK (status IN ('posted', 'voided', 'expired')),
    by_transfer_id   text REFERENCES ledger_transfers (id),
    resolved_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION seva_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION seva_append_only();
CREATE TRIGGER ledger_resolutions_append_only BEFORE UPDATE OR DELETE ON ledger_pending_resolutions
    FOR EACH ROW EXECUTE FUNCTION seva_append_only();
