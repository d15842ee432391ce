-- Catalog administration: what a resource sells (price in paise, default capacity, duration,
-- description, image keys, languages), its booking extras (participants for puja/chadhava) and
-- cancellation policy, archiving, and the extras a hold carries.

-- The retired kind name of library seats.
UPDATE resources SET kind = 'seat' WHERE kind = 'seat_block';

ALTER TABLE resources
    ADD COLUMN price_paise bigint NOT NULL DEFAULT 0 CHECK (price_paise >= 0),
    -- Defaults for slots generated from a schedule; existing slots keep their own values.
    ADD COLUMN capacity integer CHECK (capacity IS NULL OR capacity >= 0),
    ADD COLUMN duration_mins integer CHECK (duration_mins IS NULL OR duration_mins > 0),
    ADD COLUMN description text,
    ADD COLUMN images text[] NOT NULL DEFAULT '{}',  -- object-store keys, not URLs
    ADD COLUMN languages text[] NOT NULL DEFAULT '{}',
    -- A resource that something references (holds on its slots) is archived, never deleted.
    ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    -- puja/chadhava only: {max_participants, required: [gotra|nakshatra|relation],
    -- special_requests: bool}; NULL means the defaults of protocols.catalog.BookingFields.
    ADD COLUMN booking_fields jsonb,
    -- [{hours_before, refund_percent}], sorted by hours_before descending.
    ADD COLUMN cancellation_policy jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- NOT VALID: enforced for every row written from now on, without refusing to start on an
-- installation that already holds some other kind.
ALTER TABLE resources ADD CONSTRAINT resources_kind
    CHECK (kind IN ('puja', 'chadhava', 'seat', 'court', 'consultation', 'yatra')) NOT VALID;

CREATE INDEX resources_by_tenant ON resources (tenant_id, status, created_at);

-- Booking extras of a hold (participants and special requests), validated by the hub against
-- the resource's booking_fields.
ALTER TABLE holds ADD COLUMN extras jsonb;
