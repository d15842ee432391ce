-- Payments through the gateways: an intent (what is being paid for), one or more attempts
-- (one gateway order each; a failover creates a new attempt), refunds, and the inbox of signed
-- gateway webhooks. Forward-only: a captured intent never goes back to failed.

CREATE TABLE payment_intents (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    user_id              uuid NOT NULL REFERENCES users (id),
    purpose              text NOT NULL CHECK (purpose IN ('hold', 'wallet_topup')),
    hold_id              uuid REFERENCES holds (id),
    wallet_id            uuid REFERENCES ledger_accounts (id),
    amount_paise         bigint NOT NULL CHECK (amount_paise > 0),
    status               text NOT NULL CHECK (status IN ('created', 'failed', 'captured')),
    -- What the captured money became: exactly one of these (or a refund).
    outcome              text CHECK (outcome IN ('booking_confirmed', 'wallet_credited',
                                                 'refunded_unfulfillable')),
    captured_attempt_id  uuid,
    captured_paise       bigint NOT NULL DEFAULT 0,
    refunded_paise       bigint NOT NULL DEFAULT 0,
    idempotency_key      text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id, idempotency_key),
    CHECK ((purpose = 'hold') = (hold_id IS NOT NULL)),
    CHECK (refunded_paise >= 0 AND refunded_paise <= captured_paise)
);
CREATE INDEX payment_intents_open ON payment_intents (created_at) WHERE status = 'created';
CREATE UNIQUE INDEX payment_intents_one_live_per_hold ON payment_intents (hold_id)
    WHERE hold_id IS NOT NULL AND status <> 'failed';

CREATE TABLE payment_attempts (
    id                uuid PRIMARY KEY,  -- also our receipt / order id at the gateway
    intent_id         uuid NOT NULL REFERENCES payment_intents (id),
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    gateway           text NOT NULL CHECK (gateway IN ('razorpay', 'cashfree')),
    gateway_order_id  text,
    status            text NOT NULL CHECK (status IN ('creating', 'open', 'error', 'failed',
                                                      'paid')),
    fee_paise         bigint NOT NULL DEFAULT 0,
    key_id            text,           -- the merchant key the app's checkout uses (public)
    checkout_token    text,           -- Cashfree payment_session_id
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (gateway, gateway_order_id)
);
CREATE INDEX payment_attempts_by_intent ON payment_attempts (intent_id, created_at);

CREATE TABLE payment_refunds (
    id                 uuid PRIMARY KEY,  -- our refund id at the gateway
    intent_id          uuid NOT NULL REFERENCES payment_intents (id),
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    amount_paise       bigint NOT NULL CHECK (amount_paise > 0),
    reason             text NOT NULL DEFAULT '',
    status             text NOT NULL CHECK (status IN ('requested', 'pending', 'processed',
                                                       'failed')),
    gateway_refund_id  text,
    idempotency_key    text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (intent_id, idempotency_key)
);

-- Signed gateway events, stored as received (exact bytes), deduplicated by the gateway's id.
CREATE TABLE webhook_inbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway       text NOT NULL,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    gateway_order_id text,
    raw_body      bytea NOT NULL,
    headers       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    outcome       text,
    UNIQUE (gateway, event_id)
);
CREATE INDEX webhook_inbox_unprocessed ON webhook_inbox (id) WHERE processed_at IS NULL;
