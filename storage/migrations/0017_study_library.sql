-- Study libraries: monthly seat plans, attendance by QR check-in/out, student imports and fee
-- notices (README "Study library platform").

-- A student's seat for a run of days: one confirmed booking (hold) per slot of the seat
-- resource on each day, made through the tenant's inventory actor. The client's key names
-- the plan; a retry answers (or finishes) the same plan.
CREATE TABLE seat_plans (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    resource_id      uuid NOT NULL,
    idempotency_key  text NOT NULL,
    starts_on        date NOT NULL,
    ends_on          date NOT NULL,
    -- pending: holds being made and paid; active: every day confirmed; failed: refused (sold
    -- out, no slots, not enough money) and its holds released — a new key tries again.
    status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'active', 'failed')),
    booking_ids      uuid[] NOT NULL DEFAULT '{}',
    amount_paise     bigint NOT NULL DEFAULT 0 CHECK (amount_paise >= 0),
    failure          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, resource_id) REFERENCES resources (tenant_id, id),
    UNIQUE (tenant_id, user_id, idempotency_key),
    CHECK (ends_on >= starts_on)
);
CREATE INDEX seat_plans_of_user ON seat_plans (tenant_id, user_id, ends_on);

-- One attendance row per booking (a seat for a slot): checked in by staff scanning the
-- student's QR token, later checked out. Keys make retried scans answer the same row.
CREATE TABLE attendance (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    booking_id       uuid NOT NULL UNIQUE REFERENCES holds (id),
    resource_id      uuid NOT NULL,
    local_date       date NOT NULL,
    checked_in_at    timestamptz NOT NULL,
    checked_in_by    uuid NOT NULL REFERENCES users (id),
    check_in_key     text,
    late_by_secs     integer NOT NULL CHECK (late_by_secs >= 0),
    status           text NOT NULL CHECK (status IN ('on_time', 'late')),
    checked_out_at   timestamptz,
    checked_out_by   uuid REFERENCES users (id),
    check_out_key    text,
    duration_secs    integer CHECK (duration_secs >= 0),
    CHECK ((checked_out_at IS NULL) = (duration_secs IS NULL)),
    CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at)
);
CREATE INDEX attendance_open ON attendance (tenant_id) WHERE checked_out_at IS NULL;
CREATE INDEX attendance_by_day ON attendance (tenant_id, local_date);
CREATE UNIQUE INDEX attendance_check_in_key ON attendance (tenant_id, check_in_key)
    WHERE check_in_key IS NOT NULL;
CREATE UNIQUE INDEX attendance_check_out_key ON attendance (tenant_id, check_out_key)
    WHERE check_out_key IS NOT NULL;

-- A CSV import answered once per key: a retry gets the stored answer.
CREATE TABLE student_imports (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    idempotency_key  text NOT NULL,
    body_sha256      text NOT NULL,
    result           jsonb NOT NULL,
    created_by       uuid NOT NULL REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- A fee-due notice sent to a student (as a `system` notification), once per key.
CREATE TABLE fee_notices (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    idempotency_key  text NOT NULL,
    amount_paise     bigint NOT NULL CHECK (amount_paise > 0),
    due_date         date NOT NULL,
    created_by       uuid NOT NULL REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, idempotency_key)
);

-- Seat plans remind their student before they end.
ALTER TABLE scheduled_messages DROP CONSTRAINT scheduled_messages_purpose_check;
ALTER TABLE scheduled_messages ADD CONSTRAINT scheduled_messages_purpose_check
    CHECK (purpose IN ('booking', 'remedy', 'follow_up', 'renewal'));

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['seat_plans', 'attendance', 'student_imports', 'fee_notices']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
