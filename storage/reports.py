"""Report uploads (a presigned URL was handed out) and booking reports (the object was seen in
the file store). Every function takes the connection and ``tenant_id``; call them inside
``tenant_scope``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from storage import notifications

REPORT_READY = "puja_report_ready"


@dataclass(frozen=True)
class ReportUpload:
    upload_id: UUID
    tenant_id: UUID
    booking_id: UUID
    object_key: str
    filename: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class BookingReport:
    report_id: UUID
    tenant_id: UUID
    booking_id: UUID
    upload_id: UUID
    object_key: str
    filename: str
    content_type: str
    size_bytes: int
    created_at: datetime


async def insert_uploads(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    uploads: list[ReportUpload],
    requested_by: UUID,
) -> None:
    await conn.executemany(
        "INSERT INTO report_uploads (id, tenant_id, booking_id, object_key, filename, "
        "content_type, size_bytes, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (
                u.upload_id,
                tenant_id,
                u.booking_id,
                u.object_key,
                u.filename,
                u.content_type,
                u.size_bytes,
                requested_by,
            )
            for u in uploads
        ],
    )


async def get_uploads(
    conn: asyncpg.Connection, *, tenant_id: UUID, upload_ids: list[UUID], for_update: bool = False
) -> dict[UUID, ReportUpload]:
    """The tenant's uploads among ``upload_ids`` (unknown ids are left out), locked with
    ``for_update`` so that two completions of one upload take turns."""
    rows = await conn.fetch(
        "SELECT id, tenant_id, booking_id, object_key, filename, content_type, size_bytes "
        "FROM report_uploads WHERE tenant_id = $1 AND id = ANY($2::uuid[]) ORDER BY id"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
        upload_ids,
    )
    return {
        r["id"]: ReportUpload(
            upload_id=r["id"],
            tenant_id=r["tenant_id"],
            booking_id=r["booking_id"],
            object_key=r["object_key"],
            filename=r["filename"],
            content_type=r["content_type"],
            size_bytes=r["size_bytes"],
        )
        for r in rows
    }


async def reports_of_uploads(
    conn: asyncpg.Connection, *, tenant_id: UUID, upload_ids: list[UUID]
) -> dict[UUID, BookingReport]:
    """Reports already recorded for any of ``upload_ids``, by upload id."""
    rows = await conn.fetch(
        "SELECT * FROM booking_reports WHERE tenant_id = $1 AND upload_id = ANY($2::uuid[])",
        tenant_id,
        upload_ids,
    )
    return {r["upload_id"]: _report(r) for r in rows}


async def record_report(
    conn: asyncpg.Connection,
    *,
    upload: ReportUpload,
    report_id: UUID,
    size_bytes: int,
    uploaded_by: UUID,
    devotees: tuple[UUID, ...],
) -> BookingReport | None:
    """Record the upload as a report and queue ``puja_report_ready`` for each of the
    booking's ``devotees``, in the caller's transaction (the outbox relay delivers them after
    commit). None if the upload already has a report: nothing is recorded or queued twice."""
    row = await conn.fetchrow(
        """
        INSERT INTO booking_reports (id, tenant_id, booking_id, upload_id, object_key, filename,
                                     content_type, size_bytes, uploaded_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (upload_id) DO NOTHING
        RETURNING *
        """,
        report_id,
        upload.tenant_id,
        upload.booking_id,
        upload.upload_id,
        upload.object_key,
        upload.filename,
        upload.content_type,
        size_bytes,
        uploaded_by,
    )
    if row is None:
        return None
    report = _report(row)
    for user_id in devotees:
        await notifications.enqueue(
            conn,
            tenant_id=report.tenant_id,
            user_id=user_id,
            kind=REPORT_READY,
            data={
                "booking_id": str(report.booking_id),
                "report_id": str(report.report_id),
                "filename": report.filename,
                "content_type": report.content_type,
            },
            dedupe_key=f"{REPORT_READY}:{report.report_id}:{user_id}",
        )
    return report


async def list_reports(
    conn: asyncpg.Connection, *, tenant_id: UUID, booking_id: UUID
) -> list[BookingReport]:
    """Oldest first."""
    rows = await conn.fetch(
        "SELECT * FROM booking_reports WHERE tenant_id = $1 AND booking_id = $2 "
        "ORDER BY created_at, id",
        tenant_id,
        booking_id,
    )
    return [_report(r) for r in rows]


def _report(row: asyncpg.Record) -> BookingReport:
    return BookingReport(
        report_id=row["id"],
        tenant_id=row["tenant_id"],
        booking_id=row["booking_id"],
        upload_id=row["upload_id"],
        object_key=row["object_key"],
        filename=row["filename"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        created_at=row["created_at"],
    )
