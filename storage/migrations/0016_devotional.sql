-- Devotional platform (temples): linked hold groups (a puja with its chadhava offerings, the
-- days of a yatra), waiting lists of sold-out slots, pandits' earnings per completed booking,
-- and the platform's commission per tenant. Places themselves are still only ever held through
-- the tenant's inventory actor (holds, slots); these tables record what links them.

CREATE TABLE hold_groups (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    kind             text NOT NULL CHECK (kind IN ('puja', 'yatra')),
    idempotency_key  text NOT NULL,
    -- The request as first sent: the same key with another request is a conflict.
    request          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id, idempotency_key)
);

CREATE TABLE hold_group_items (
    group_id   uuid NOT NULL REFERENCES hold_groups (id),
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    position   integer NOT NULL CHECK (position >= 0),
    hold_id    uuid NOT NULL UNIQUE REFERENCES holds (id),
    -- puja: the booking the pandit performs; offering: a chadhava add-on; day: a yatra day.
    role       text NOT NULL CHECK (role IN ('puja', 'offering', 'day')),
    PRIMARY KEY (group_id, position)
);

CREATE TABLE waitlist_entries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    slot_id           uuid NOT NULL REFERENCES slots (id),
    user_id           uuid NOT NULL REFERENCES users (id),
    qty               integer NOT NULL CHECK (qty BETWEEN 1 AND 100),
    idempotency_key   text NOT NULL,
    -- waiting → offered → accepted (the offer's hold was confirmed) | lapsed (it expired or
    -- was released); waiting | offered → cancelled (the devotee left the list).
    status            text NOT NULL DEFAULT 'waiting'
                      CHECK (status IN ('waiting', 'offered', 'accepted', 'lapsed', 'cancelled')),
    hold_id           uuid REFERENCES holds (id),
    offered_at        timestamptz,
    offer_expires_at  timestamptz,
    closed_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (tenant_id, user_id, idempotency_key)
);
CREATE INDEX waitlist_waiting ON waitlist_entries (slot_id, created_at, id)
    WHERE status = 'waiting';
CREATE INDEX waitlist_offered ON waitlist_entries (offer_expires_at) WHERE status = 'offered';

CREATE TABLE devotional_settings (
    tenant_id      uuid PRIMARY KEY REFERENCES tenants (id),
    commission_bp  integer NOT NULL CHECK (commission_bp BETWEEN 0 AND 10000),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per completed booking, written before its ledger transfers (fixed ids derived from
-- the booking) and marked posted after them: the amounts are decided once.
CREATE TABLE pandit_earnings (
    booking_id        uuid PRIMARY KEY REFERENCES holds (id),
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    staff_user_id     uuid NOT NULL REFERENCES users (id),
    gross_paise       bigint NOT NULL CHECK (gross_paise >= 0),
    commission_bp     integer NOT NULL CHECK (commission_bp BETWEEN 0 AND 10000),
    commission_paise  bigint NOT NULL CHECK (commission_paise >= 0),
    net_paise         bigint NOT NULL CHECK (net_paise >= 0),
    transfer_id       text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    posted_at         timestamptz,
    CHECK (commission_paise + net_paise = gross_paise)
);
CREATE INDEX pandit_earnings_by_staff ON pandit_earnings (tenant_id, staff_user_id, created_at);
CREATE INDEX pandit_earnings_unposted ON pandit_earnings (created_at) WHERE posted_at IS NULL;
CREATE INDEX holds_completed ON holds (live_status_at) WHERE live_status = 'completed';
CREATE INDEX holds_by_assignee ON holds (tenant_id, assigned_staff_id)
    WHERE assigned_staff_id IS NOT NULL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['hold_groups', 'hold_group_items', 'waitlist_entries',
                             'devotional_settings', 'pandit_earnings']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
-- A refused booking's group is forgotten so its key can be used again.
GRANT DELETE ON hold_groups TO seva_tenant;
