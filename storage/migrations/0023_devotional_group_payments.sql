-- Devotional follow-up: one payment for a whole linked hold group (a puja with its offerings,
-- a yatra's days), from the wallet or at a gateway, and a notification type of its own for a
-- waiting list's offer.

-- The one payment of a group. pending → confirmed (every hold confirmed together, the money
-- posted or booked to the tenant) | cancelled (a hold could not be confirmed: the money went
-- back, the holds were released). A gateway payment that was never captured may be taken over
-- by a new one (another key or the wallet); a capture for an intent that is not the group's
-- current one is refunded.
CREATE TABLE group_payments (
    group_id         uuid PRIMARY KEY REFERENCES hold_groups (id),
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    method           text NOT NULL CHECK (method IN ('wallet', 'gateway')),
    idempotency_key  text NOT NULL,
    amount_paise     bigint NOT NULL CHECK (amount_paise >= 0),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    -- wallet: the pending transfer reserving the total; gateway: the payment intent.
    pending_id       text,
    intent_id        uuid REFERENCES payment_intents (id),
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((method = 'wallet') = (pending_id IS NOT NULL))
);
CREATE INDEX group_payments_by_intent ON group_payments (intent_id) WHERE intent_id IS NOT NULL;

ALTER TABLE group_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON group_payments TO seva_tenant
    USING (tenant_id = seva_current_tenant())
    WITH CHECK (tenant_id = seva_current_tenant());
GRANT SELECT, INSERT, UPDATE ON group_payments TO seva_tenant;

-- A gateway payment of a whole group. Every purpose of 0018 is kept.
ALTER TABLE payment_intents DROP CONSTRAINT payment_intents_purpose_check;
ALTER TABLE payment_intents ADD CONSTRAINT payment_intents_purpose_check
    CHECK (purpose IN ('hold', 'wallet_topup', 'split_share', 'booking_group'));

-- A waiting list's offer. Every type of 0021 (0011's and the study library's) is kept.
ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_check CHECK (type IN (
    'booking_confirmed', 'booking_cancelled', 'booking_rescheduled', 'booking_reminder',
    'puja_started', 'puja_completed', 'puja_report_ready', 'stream_started',
    'payment_success', 'payment_failed', 'refund_processed', 'credits_low', 'system',
    'fee_due', 'plan_renewal', 'waitlist_offer'));
