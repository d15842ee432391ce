-- A confirmed booking can be cancelled: its places return to the slot.
ALTER TABLE holds DROP CONSTRAINT holds_status_check;
ALTER TABLE holds ADD CONSTRAINT holds_status_check
    CHECK (status IN ('held', 'confirmed', 'released', 'expired', 'cancelled'));
