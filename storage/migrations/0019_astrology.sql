-- Astrology (consultations): meeting links of consultation bookings, a tenant's consultation
-- settings (meeting base URL, reschedule fee policy), report products with a JSON Schema
-- intake form and their paid orders, and remedies an astrologer assigns to a client.

-- One meeting room per confirmed consultation booking, made in the shard's commit that
-- confirms it (before its booking_confirmed notification is queued, which carries the url).
CREATE TABLE booking_meetings (
    hold_id     uuid PRIMARY KEY REFERENCES holds (id),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    provider    text NOT NULL,
    room_id     text NOT NULL,
    url         text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A tenant's consultation settings. No row: the defaults (meeting base URL of the provider,
-- every reschedule free).
CREATE TABLE consultation_settings (
    tenant_id             uuid PRIMARY KEY REFERENCES tenants (id),
    meeting_base_url      text,
    reschedule_fee_paise  bigint NOT NULL DEFAULT 0 CHECK (reschedule_fee_paise >= 0),
    free_reschedules      int NOT NULL DEFAULT 1 CHECK (free_reschedules >= 0),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Fees charged for a reschedule past the free ones, by the move's idempotency key.
CREATE TABLE reschedule_fees (
    hold_id          uuid NOT NULL REFERENCES holds (id),
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    idempotency_key  text NOT NULL,
    user_id          uuid NOT NULL REFERENCES users (id),
    fee_paise        bigint NOT NULL CHECK (fee_paise > 0),
    transfer_id      text NOT NULL UNIQUE,
    state            text NOT NULL DEFAULT 'reserved'
        CHECK (state IN ('reserved', 'posted', 'voided')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hold_id, idempotency_key)
);

CREATE TABLE report_products (
    id             uuid NOT NULL,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    name           text NOT NULL,
    price_paise    bigint NOT NULL CHECK (price_paise >= 0),
    intake_schema  jsonb NOT NULL,
    version        int NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- status: pending_payment -> paid -> delivered. The price and intake are copied at order
-- time (a product edited later does not change an order).
CREATE TABLE report_orders (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    product_id       uuid NOT NULL,
    user_id          uuid NOT NULL REFERENCES users (id),
    intake           jsonb NOT NULL,
    price_paise      bigint NOT NULL CHECK (price_paise >= 0),
    idempotency_key  text NOT NULL,
    status           text NOT NULL DEFAULT 'pending_payment'
        CHECK (status IN ('pending_payment', 'paid', 'delivered')),
    transfer_id      text NOT NULL UNIQUE,
    object_key       text,
    filename         text,
    content_type     text,
    size_bytes       bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    paid_at          timestamptz,
    delivered_at     timestamptz,
    UNIQUE (tenant_id, user_id, idempotency_key),
    FOREIGN KEY (tenant_id, product_id) REFERENCES report_products (tenant_id, id),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

-- A presigned upload of an order's PDF (completed once the object is seen in the store).
CREATE TABLE report_order_uploads (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    order_id      uuid NOT NULL REFERENCES report_orders (id),
    object_key    text NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL,
    requested_by  uuid NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- status: assigned -> completed. Daily reminders are scheduled_messages (purpose 'remedy',
-- data.remedy_id), cancelled when the remedy is completed.
CREATE TABLE remedies (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id),
    astrologer_user_id   uuid NOT NULL REFERENCES users (id),
    client_user_id       uuid NOT NULL REFERENCES users (id),
    booking_id           uuid REFERENCES holds (id),
    type                 text NOT NULL,
    instructions         text NOT NULL,
    duration_days        int NOT NULL CHECK (duration_days BETWEEN 1 AND 90),
    reminders            boolean NOT NULL,
    daily_at             text,
    idempotency_key      text NOT NULL,
    status               text NOT NULL DEFAULT 'assigned'
        CHECK (status IN ('assigned', 'completed')),
    feedback             text,
    rating               int CHECK (rating BETWEEN 1 AND 5),
    created_at           timestamptz NOT NULL DEFAULT now(),
    completed_at         timestamptz,
    UNIQUE (tenant_id, astrologer_user_id, idempotency_key),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
CREATE INDEX remedies_of_client ON remedies (tenant_id, client_user_id, created_at);
CREATE INDEX remedies_of_astrologer ON remedies (tenant_id, astrologer_user_id, created_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['booking_meetings', 'consultation_settings', 'reschedule_fees',
                             'report_products', 'report_orders', 'report_order_uploads',
                             'remedies']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
-- A fee whose reservation failed or was voided is forgotten, so a retry can charge afresh.
GRANT DELETE ON reschedule_fees TO seva_tenant;
