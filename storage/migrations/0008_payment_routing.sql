-- Why each attempt went to its gateway: the tenant's policy (cheapest, pinned, split) or a
-- failover after the preferred gateway failed. Together with fee_paise, every routing decision
-- and its fee is on record.
ALTER TABLE payment_attempts ADD COLUMN route_reason text NOT NULL DEFAULT 'cheapest'
    CHECK (route_reason IN ('cheapest', 'pin', 'split', 'failover', 'health'));
