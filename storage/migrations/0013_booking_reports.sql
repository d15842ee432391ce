-- Booking reports: files (photos, video, PDFs) staff upload for a booking straight to the file
-- store through presigned URLs. An upload is requested first (the URL was handed out); it
-- becomes a report once the hub has seen the object in the store. A report notifies the
-- booking's devotees in the same transaction (outbox_events).

CREATE TABLE report_uploads (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    booking_id    uuid NOT NULL REFERENCES holds (id),
    object_key    text NOT NULL UNIQUE,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    -- What the uploader declared; the stored object may not be larger.
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    requested_by  uuid NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_uploads_by_booking ON report_uploads (booking_id);

CREATE TABLE booking_reports (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    booking_id    uuid NOT NULL REFERENCES holds (id),
    -- One report per upload: completing an upload again finds this row.
    upload_id     uuid NOT NULL UNIQUE REFERENCES report_uploads (id),
    object_key    text NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    -- As stored (checked with a HEAD of the object).
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    uploaded_by   uuid NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_reports_by_booking ON booking_reports (booking_id, created_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['report_uploads', 'booking_reports']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO seva_tenant '
            'USING (tenant_id = seva_current_tenant()) '
            'WITH CHECK (tenant_id = seva_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO seva_tenant', t);
    END LOOP;
END $$;
