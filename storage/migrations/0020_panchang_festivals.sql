-- The panchang cache (shared by every hub) and tenants' festival calendars.

-- One computed day at one rounded place (0.01 degree) and timezone. Computation is pure and
-- deterministic for an algorithm version, so a row is written once and never updated; rows of
-- an older algorithm are simply not read. Not tenant data: no row-level security.
CREATE TABLE panchang_days (
    day          date NOT NULL,
    lat_centi    integer NOT NULL CHECK (lat_centi BETWEEN -6000 AND 6000),
    lon_centi    integer NOT NULL CHECK (lon_centi BETWEEN -18000 AND 18000),
    timezone     text NOT NULL,
    algorithm    smallint NOT NULL,
    data         jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, lat_centi, lon_centi, timezone, algorithm)
);

-- A tenant's festival calendar entry. idempotency_key makes a retried create answer the same
-- row. tithi_rule is the lunar rule that fixes the date ({paksha, tithi, masa?}), kept for
-- display; the date itself is what the tenant gives.
CREATE TABLE festivals (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    name             text NOT NULL,
    day              date NOT NULL,
    description      text,
    tithi_rule       jsonb,
    idempotency_key  text NOT NULL,
    created_by       uuid REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX festivals_by_day ON festivals (tenant_id, day);

ALTER TABLE festivals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON festivals TO seva_tenant
    USING (tenant_id = seva_current_tenant())
    WITH CHECK (tenant_id = seva_current_tenant());
GRANT SELECT, INSERT ON festivals TO seva_tenant;
