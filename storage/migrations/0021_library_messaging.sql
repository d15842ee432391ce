-- Study library messaging: fee-due notices and seat-plan renewal reminders become notification
-- types of their own (with DLT SMS and WhatsApp templates), instead of free-text `system`
-- notices that SMS cannot carry. Every type of 0011 is kept.

ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_check CHECK (type IN (
    'booking_confirmed', 'booking_cancelled', 'booking_rescheduled', 'booking_reminder',
    'puja_started', 'puja_completed', 'puja_report_ready', 'stream_started',
    'payment_success', 'payment_failed', 'refund_processed', 'credits_low', 'system',
    'fee_due', 'plan_renewal'));

-- A renewal reminder is a scheduled message of kind 'plan_renewal'.
ALTER TABLE scheduled_messages DROP CONSTRAINT scheduled_messages_kind_check;
ALTER TABLE scheduled_messages ADD CONSTRAINT scheduled_messages_kind_check CHECK (kind IN (
    'booking_confirmed', 'booking_cancelled', 'booking_rescheduled', 'booking_reminder',
    'puja_started', 'puja_completed', 'puja_report_ready', 'stream_started',
    'payment_success', 'payment_failed', 'refund_processed', 'credits_low', 'system',
    'fee_due', 'plan_renewal'));

-- Renewal reminders planned before this migration become 'plan_renewal' too (still due ones
-- only; sent ones stay what they were sent as).
UPDATE scheduled_messages
SET kind = 'plan_renewal',
    data = jsonb_build_object('seat_plan_id', data->'seat_plan_id',
                              'plan_ends_on', data->'ends_on')
WHERE purpose = 'renewal' AND kind = 'system' AND status = 'scheduled';
