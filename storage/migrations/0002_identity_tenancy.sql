-- Identity, tenancy and audit: registration by email and/or phone, refresh-token families,
-- login throttling, tenant status and plan limits, staff assignments, a richer audit log, and
-- row-level security as a second wall between tenants.

ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ADD COLUMN language text NOT NULL DEFAULT 'en'
    CHECK (language ~ '^[a-z]{2}$');
ALTER TABLE users ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE users ADD CONSTRAINT users_email_or_phone CHECK (email IS NOT NULL OR phone IS NOT NULL);
ALTER TABLE users ADD CONSTRAINT users_phone_e164 CHECK (phone IS NULL OR phone ~ '^\+91[6-9][0-9]{9}$');
CREATE UNIQUE INDEX users_phone_key ON users (phone) WHERE phone IS NOT NULL;

ALTER TABLE tenants ADD COLUMN status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended'));
-- Plan limits: max_resources, max_staff, max_monthly_bookings (absent = unlimited).
ALTER TABLE tenants ADD COLUMN plan jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Opaque refresh tokens, stored as SHA-256 only. Every use rotates: the used token gets
-- rotated_at and a child is issued in the same family. Presenting a rotated token again means
-- it was stolen (or replayed): the whole family is revoked.
CREATE TABLE refresh_tokens (
    id              uuid PRIMARY KEY,
    family_id       uuid NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (id),
    tenant_id       uuid REFERENCES tenants (id),
    token_hash      bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    rotated_at      timestamptz,
    revoked_at      timestamptz,
    revoked_reason  text
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Failed logins, per account and per client address; old rows are pruned as we go.
CREATE TABLE login_failures (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key     text NOT NULL,  -- 'account:<lower email or phone>' or 'ip:<address>'
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_by_key ON login_failures (key, at);

CREATE TABLE staff_assignments (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    resource_id  uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, resource_id),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id)
);

ALTER TABLE audit_log ADD COLUMN actor_role text;
ALTER TABLE audit_log ADD COLUMN entity text;
ALTER TABLE audit_log ADD COLUMN before jsonb;
ALTER TABLE audit_log ADD COLUMN after jsonb;
ALTER TABLE audit_log ADD COLUMN ip text;
ALTER TABLE audit_log ADD COLUMN user_agent text;
ALTER TABLE audit_log ADD COLUMN request_id text;
-- Append-only: history is never edited.
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

-- Row-level security. The hub runs tenant-scoped work as role seva_tenant with
-- seva.tenant_id set for the transaction (storage/tenancy.py); a query that forgets its
-- tenant filter still sees only that tenant. The inventory shards and platform operations
-- run as the owning role, which RLS does not restrict.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'seva_tenant') THEN
        CREATE ROLE seva_tenant NOLOGIN;
    END IF;
END $$;
GRANT seva_tenant TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO seva_tenant;

CREATE FUNCTION seva_current_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('seva.tenant_id', true), '')::uuid
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['resources', 'slots', 'holds', 'availability_events', 'users',
                             'refresh_tokens', 'staff_assignments', 'audit_log']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO seva_tenant USING (id = seva_current_tenant());
GRANT SELECT ON tenants TO seva_tenant;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO seva_tenant;
