-- Real-time feeds: every stream a client follows besides availability (a user's own feed, a
-- booking's live status) gets a gap-free seq assigned in the transaction of the change, and an
-- outbox that publishes each event after commit.

-- The last seq of every feed stream ("user:<uuid>", "booking:<uuid>"). Kept even after old
-- events are pruned, so a stream's seq never goes backwards.
CREATE TABLE feed_heads (
    stream     text PRIMARY KEY,
    tenant_id  uuid REFERENCES tenants (id),
    seq        bigint NOT NULL CHECK (seq >= 0)
);

-- The events themselves; also the outbox: published_at is set once the relay handed the event
-- to Socket.IO (and, with several hubs, to Redis). Rows older than the retention are pruned.
CREATE TABLE feed_events (
    id            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    stream        text NOT NULL,
    seq           bigint NOT NULL CHECK (seq > 0),
    tenant_id     uuid REFERENCES tenants (id),
    room          text NOT NULL,
    event         text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    PRIMARY KEY (stream, seq)
);
CREATE INDEX feed_events_unpublished ON feed_events (id) WHERE published_at IS NULL;
CREATE INDEX feed_events_by_age ON feed_events (created_at);

-- Domain events waiting to become notifications (written in the transaction of the change;
-- a dispatcher turns each into an inbox row plus a feed event, exactly once).
CREATE TABLE outbox_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid REFERENCES tenants (id),
    user_id        uuid NOT NULL REFERENCES users (id),
    type           text NOT NULL,
    data           jsonb NOT NULL DEFAULT '{}',
    -- A retried operation writes the same key, so it cannot notify twice.
    dedupe_key     text NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    dispatched_at  timestamptz
);
CREATE INDEX outbox_events_pending ON outbox_events (id) WHERE dispatched_at IS NULL;

CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    tenant_id   uuid REFERENCES tenants (id),
    type        text NOT NULL CHECK (type IN (
        'booking_confirmed', 'booking_cancelled', 'booking_rescheduled', 'booking_reminder',
        'puja_started', 'puja_completed', 'puja_report_ready', 'stream_started',
        'payment_success', 'payment_failed', 'refund_processed', 'credits_low', 'system')),
    title       text NOT NULL,
    body        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    priority    text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high')),
    seq         bigint NOT NULL,
    outbox_id   bigint UNIQUE REFERENCES outbox_events (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    expires_at  timestamptz
);
-- Newest first (seq is the user's feed order), the order of the inbox and of its cursor.
CREATE UNIQUE INDEX notifications_inbox ON notifications (user_id, seq DESC);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

-- Live status of a booking (a confirmed hold) and who may push it.
ALTER TABLE holds ADD COLUMN assigned_staff_id uuid REFERENCES users (id);
ALTER TABLE holds ADD COLUMN live_status text
    CHECK (live_status IN ('assigned', 'started', 'in_progress', 'completed'));
ALTER TABLE holds ADD COLUMN live_status_at timestamptz;

-- Accounts that take part in a booking besides its owner (e.g. players of a split booking);
-- they receive the booking's live status too.
CREATE TABLE booking_members (
    hold_id    uuid NOT NULL REFERENCES holds (id),
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (hold_id, user_id)
);

-- Live video sessions (darshan/aarti for a resource, or one booked puja).
CREATE TABLE streaming_sessions (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    booking_id    uuid REFERENCES holds (id),
    resource_id   uuid,
    url           text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('hls', 'youtube', 'meet')),
    state         text NOT NULL CHECK (state IN ('live', 'ended')),
    started_by    uuid NOT NULL REFERENCES users (id),
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    peak_viewers  integer NOT NULL DEFAULT 0 CHECK (peak_viewers >= 0),
    CHECK ((booking_id IS NULL) <> (resource_id IS NULL)),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id)
);
-- At most one live session per booking and per resource.
CREATE UNIQUE INDEX streaming_live_booking ON streaming_sessions (booking_id)
    WHERE state = 'live' AND booking_id IS NOT NULL;
CREATE UNIQUE INDEX streaming_live_resource ON streaming_sessions (resource_id)
    WHERE state = 'live' AND resource_id IS NOT NULL;

-- Viewers per stream per hub process; the total is their sum over hubs seen recently.
CREATE TABLE stream_viewer_counts (
    stream_id   uuid NOT NULL REFERENCES streaming_sessions (id),
    hub_id      uuid NOT NULL,
    viewers     integer NOT NULL CHECK (viewers >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, hub_id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['feed_heads', 'feed_events', 'outbox_events', 'notifications',
                             'booking_members', 'streaming_sessions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO seva_tenant;
