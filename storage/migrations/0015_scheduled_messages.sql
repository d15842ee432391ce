-- Scheduled messages (reminders) and booking reschedules.

-- A message due at a time: a booking's reminders (24 h and 1 h before its slot), an
-- astrologer's daily remedy reminders, a follow-up nudge. A claim loop in every hub picks due
-- rows with FOR UPDATE SKIP LOCKED and, in one transaction, marks them sent and queues the
-- notification in outbox_events (dedupe key from the row's id: never sent twice).
CREATE TABLE scheduled_messages (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    booking_id    uuid REFERENCES holds (id),
    -- The notification type it becomes (protocols/notifications.py).
    kind          text NOT NULL CHECK (kind IN (
        'booking_confirmed', 'booking_cancelled', 'booking_rescheduled', 'booking_reminder',
        'puja_started', 'puja_completed', 'puja_report_ready', 'stream_started',
        'payment_success', 'payment_failed', 'refund_processed', 'credits_low', 'system')),
    -- Why it exists: 'booking' reminders follow the booking's slot (re-planned when it moves);
    -- 'remedy' and 'follow_up' were planned by the tenant's staff.
    purpose       text NOT NULL CHECK (purpose IN ('booking', 'remedy', 'follow_up')),
    data          jsonb NOT NULL DEFAULT '{}',
    due_at        timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'sent', 'cancelled')),
    -- A retried plan writes the same keys, so nothing is planned twice.
    dedupe_key    text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    cancelled_at  timestamptz,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX scheduled_messages_due ON scheduled_messages (due_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_messages_of_booking ON scheduled_messages (booking_id, due_at)
    WHERE booking_id IS NOT NULL;

-- One row per reschedule of a booking, by the client's idempotency key: a retry answers the
-- same move instead of moving again. holds.slot_id is the booking's current slot.
CREATE TABLE booking_reschedules (
    hold_id          uuid NOT NULL REFERENCES holds (id),
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    idempotency_key  text NOT NULL,
    from_slot_id     uuid NOT NULL,
    to_slot_id       uuid NOT NULL,
    user_id          uuid NOT NULL REFERENCES users (id),
    by_user_id       uuid NOT NULL REFERENCES users (id),
    created_at       timestamptz NOT NULL,
    -- No foreign key to slots: a slot left empty by a move may be deleted with its resource.
    PRIMARY KEY (hold_id, idempotency_key)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['scheduled_messages', 'booking_reschedules']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
