-- Tenants, people, bookable resources, slots, holds and the availability event log.
-- Money is integer paise (bigint). Times are timestamptz; a slot's local_date is its date in
-- the tenant's timezone, so "the puja's slots on 2026-11-23" means what the temple means.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('temple', 'library', 'venue', 'consultancy')),
    timezone    text NOT NULL DEFAULT 'Asia/Kolkata',
    -- hold_ttl_secs and later per-tenant knobs live here
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid REFERENCES tenants (id),  -- NULL for platform users
    email          text NOT NULL,
    phone          text,
    name           text NOT NULL,
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('user', 'staff', 'tenant_admin', 'platform_admin')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE resources (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    kind        text NOT NULL,  -- puja, chadhava, seat_block, court, consultation, ...
    name        text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

CREATE TABLE slots (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL,
    resource_id    uuid NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    local_date     date NOT NULL,
    capacity       integer NOT NULL CHECK (capacity >= 0),
    price_paise    bigint NOT NULL CHECK (price_paise >= 0),
    -- Owned by the tenant's inventory actor; version fences its writes after a restart.
    held_qty       integer NOT NULL DEFAULT 0 CHECK (held_qty >= 0),
    confirmed_qty  integer NOT NULL DEFAULT 0 CHECK (confirmed_qty >= 0),
    version        bigint NOT NULL DEFAULT 0,
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id),
    UNIQUE (tenant_id, id),
    UNIQUE (resource_id, starts_at),
    CHECK (ends_at > starts_at),
    -- The last line of defence against overselling, whatever the application does.
    CHECK (held_qty + confirmed_qty <= capacity)
);
CREATE INDEX slots_by_day ON slots (tenant_id, resource_id, local_date, starts_at);

CREATE TABLE holds (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    slot_id          uuid NOT NULL,
    user_id          uuid NOT NULL REFERENCES users (id),
    qty              integer NOT NULL CHECK (qty > 0),
    status           text NOT NULL CHECK (status IN ('held', 'confirmed', 'released', 'expired')),
    idempotency_key  text NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, slot_id) REFERENCES slots (tenant_id, id),
    UNIQUE (tenant_id, user_id, idempotency_key)
);
CREATE INDEX holds_active ON holds (tenant_id, slot_id) WHERE status = 'held';

-- One row per committed change of a stream; seq is gap-free per stream (the primary key makes
-- a second writer with stale state fail instead of doubling an event).
CREATE TABLE availability_events (
    stream      text NOT NULL,
    seq         bigint NOT NULL CHECK (seq > 0),
    tenant_id   uuid NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, seq)
);

CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid,
    actor_user_id  uuid,
    action         text NOT NULL,
    subject_id     uuid,
    data           jsonb NOT NULL DEFAULT '{}'::jsonb,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at);
