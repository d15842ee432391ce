-- Padel venues: split payments of a court hold, court status for the venue room, open matches.

-- One split per hold: the booker's hold is paid in shares by up to four players. The row is
-- the saga's lock (SELECT ... FOR UPDATE): paying a share, confirming the hold and cancelling
-- after expiry all take it, so a share never pays into a split that is being cancelled.
-- open → confirming (every share paid) → confirmed (hold confirmed, money posted)
-- open | confirming → cancelling (hold expired or released) → cancelled (every share given back)
CREATE TABLE split_payments (
    hold_id          uuid PRIMARY KEY REFERENCES holds (id),
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    booker_user_id   uuid NOT NULL REFERENCES users (id),
    amount_paise     bigint NOT NULL CHECK (amount_paise > 0),
    status           text NOT NULL CHECK (status IN ('open', 'confirming', 'confirmed',
                                                     'cancelling', 'cancelled')),
    idempotency_key  text NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX split_payments_unsettled ON split_payments (expires_at)
    WHERE status IN ('open', 'confirming', 'cancelling');

-- One share per player (the booker's share carries the remainder paise). A wallet share is a
-- pending ledger transfer (pending_id), a gateway share a payment intent (intent_id).
-- pending → paid → settled (posted / booked) | refunded (voided / refunded at the gateway)
CREATE TABLE split_shares (
    hold_id       uuid NOT NULL REFERENCES split_payments (hold_id),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    position      smallint NOT NULL CHECK (position BETWEEN 0 AND 3),
    amount_paise  bigint NOT NULL CHECK (amount_paise >= 0),
    status        text NOT NULL CHECK (status IN ('pending', 'paid', 'settled', 'refunded')),
    method        text CHECK (method IN ('wallet', 'gateway')),
    pending_id    text,
    intent_id     uuid REFERENCES payment_intents (id),
    paid_at       timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hold_id, user_id),
    UNIQUE (hold_id, position),
    CHECK ((status = 'pending') = (method IS NULL))
);
CREATE UNIQUE INDEX split_shares_by_intent ON split_shares (intent_id) WHERE intent_id IS NOT NULL;

-- A gateway payment of one share.
ALTER TABLE payment_intents DROP CONSTRAINT payment_intents_purpose_check;
ALTER TABLE payment_intents ADD CONSTRAINT payment_intents_purpose_check
    CHECK (purpose IN ('hold', 'wallet_topup', 'split_share'));

-- The last status staff set on a court (maintenance, in play, free again).
CREATE TABLE court_status (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    resource_id  uuid NOT NULL,
    status       text NOT NULL CHECK (status IN ('free', 'booked', 'in_play', 'maintenance')),
    slot_id      uuid,
    by_user_id   uuid REFERENCES users (id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, resource_id),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id)
);

-- A booked court opened to other players; joining takes the row lock, so never more players
-- than spots.
CREATE TABLE open_matches (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    hold_id       uuid NOT NULL UNIQUE REFERENCES holds (id),
    opened_by     uuid NOT NULL REFERENCES users (id),
    spots         smallint NOT NULL CHECK (spots BETWEEN 1 AND 3),
    joined        smallint NOT NULL DEFAULT 0 CHECK (joined >= 0 AND joined <= spots),
    level         text,
    share_paise   bigint CHECK (share_paise >= 0),
    local_date    date NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX open_matches_by_date ON open_matches (tenant_id, local_date);

CREATE TABLE open_match_players (
    match_id         uuid NOT NULL REFERENCES open_matches (id),
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    idempotency_key  text NOT NULL,
    joined_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (match_id, user_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['split_payments', 'split_shares', 'court_status', 'open_matches',
                             'open_match_players']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
