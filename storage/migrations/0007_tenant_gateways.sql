-- Each tenant's accounts at the payment gateways: credentials (secrets encrypted by the hub
-- with AES-256-GCM, protocols/secretbox.py; never stored in clear), where to reach the gateway,
-- its fee schedule, and the routing priority.
CREATE TABLE tenant_gateways (
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    gateway              text NOT NULL CHECK (gateway IN ('razorpay', 'cashfree')),
    key_id               text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 128),
    -- version byte || 96-bit nonce || ciphertext || tag; associated data binds each ciphertext
    -- to "<tenant_id>:<gateway>:<field>", so it cannot be moved to another row or column.
    key_secret_enc       bytea NOT NULL,
    -- Newest first; more than one while a webhook secret is being rotated.
    webhook_secrets_enc  bytea[] NOT NULL
        CHECK (cardinality(webhook_secrets_enc) BETWEEN 1 AND 3),
    -- NULL: the gateway's production API; otherwise a sandbox or a local emulator.
    base_url             text,
    fee_percent_bp       integer NOT NULL CHECK (fee_percent_bp BETWEEN 0 AND 10000),
    fee_fixed_paise      bigint NOT NULL CHECK (fee_fixed_paise >= 0),
    -- Lower first: the order in which routing breaks fee ties.
    priority             integer NOT NULL DEFAULT 0,
    enabled              boolean NOT NULL DEFAULT true,
    updated_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, gateway)
);

ALTER TABLE tenant_gateways ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_gateways TO seva_tenant
    USING (tenant_id = seva_current_tenant()) WITH CHECK (tenant_id = seva_current_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_gateways TO seva_tenant;
