-- Who is online: sockets per user per hub process, reported every few seconds by each hub.
-- A user is online while some hub heard from recently reports a socket; a killed hub's rows
-- go stale and stop counting.
CREATE TABLE presence (
    user_id     uuid NOT NULL REFERENCES users (id),
    hub_id      uuid NOT NULL,
    tenant_id   uuid REFERENCES tenants (id),
    sockets     integer NOT NULL CHECK (sockets > 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, hub_id)
);

-- When each user was last seen online (kept after the presence rows go).
ALTER TABLE users ADD COLUMN last_seen_at timestamptz;
