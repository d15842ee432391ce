"""Booking reports: staff upload files for a booking straight to the file store through
presigned URLs; completing an upload records it and notifies the booking's devotees; owners
and staff download through short-lived presigned URLs.

Order of a completion: the object is looked at in the store (HEAD) first, outside any
transaction; then one transaction locks the upload, records the report, queues
``puja_report_ready`` for every devotee (outbox, delivered after commit) and writes the audit
row. A completion repeated, or racing another, finds the report and changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from hub.booking_access import check_booking_reader, check_booking_staff, tenant_of_booking
from protocols.errors import Conflict, Invalid, NotFound
from protocols.files import FileStore, safe_filename
from protocols.reports import (
    BULK_CONTENT_TYPE,
    CompleteBulkUploads,
    RequestBulkUploads,
    RequestReportUpload,
)
from storage import live_status, reports
from storage.audit import AuditContext, record
from storage.live_status import BookingLive
from storage.reports import BookingReport, ReportUpload
from storage.tenancy import tenant_scope

BULK_HEAD_CONCURRENCY = 8


def object_key(tenant_id: UUID, booking_id: UUID, upload_id: UUID, filename: str) -> str:
    return (
        f"tenants/{tenant_id}/bookings/{booking_id}/reports/{upload_id}/{safe_filename(filename)}"
    )


class ReportService:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        store: FileStore,
        max_bytes_by_type: dict[str, int],
        upload_expiry_secs: int,
        download_expiry_secs: int,
    ) -> None:
        self._db = db
        self._store = store
        self._max_bytes = dict(max_bytes_by_type)
        self._upload_expiry_secs = upload_expiry_secs
        self._download_expiry_secs = download_expiry_secs

    # -- uploads -------------------------------------------------------------------------------

    async def request_upload(
        self, principal: Principal, booking_id: UUID, request: RequestReportUpload
    ) -> dict[str, Any]:
        """A presigned PUT for one file of a confirmed booking. Raises Invalid (type not
        allowed, too large), NotFound, Forbidden (staff not assigned), Conflict (not
        confirmed)."""
        self.check_file(request.content_type, request.size_bytes)
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            booking = await self._booking(conn, tenant_id, booking_id)
            await check_booking_staff(conn, principal, booking, action="upload its reports")
            self._check_confirmed(booking)
            upload = self._new_upload(
                tenant_id, booking_id, request.filename, request.content_type, request.size_bytes
            )
            answer = await self._presign_upload(upload)
            await reports.insert_uploads(
                conn, tenant_id=tenant_id, uploads=[upload], requested_by=principal.user_id
            )
        return answer

    async def request_bulk(
        self, principal: Principal, tenant_id: UUID, request: RequestBulkUploads
    ) -> dict[str, Any]:
        """Presigned PUTs of one PDF per item, all or none: an unknown booking (NotFound), an
        unconfirmed one (Conflict) or a file too large (Invalid) refuses the whole request,
        naming the item's ``index``."""
        if not principal.may_act_in(tenant_id):
            raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
        for index, item in enumerate(request.items):
            try:
                self.check_file(BULK_CONTENT_TYPE, item.size_bytes)
            except Invalid as exc:
                raise Invalid(exc.message, {**exc.details, "index": index}) from None
        answers = []
        async with tenant_scope(self._db, tenant_id) as conn:
            uploads = []
            for index, item in enumerate(request.items):
                booking = await live_status.load(
                    conn, tenant_id=tenant_id, booking_id=item.booking_id
                )
                if booking is None:
                    raise NotFound(
                        "no such booking", {"index": index, "booking_id": str(item.booking_id)}
                    )
                self._check_confirmed(booking, index=index)
                upload = self._new_upload(
                    tenant_id, item.booking_id, item.filename, BULK_CONTENT_TYPE, item.size_bytes
                )
                uploads.append(upload)
                answers.append(
                    {"index": index, "booking_id": str(item.booking_id)}
                    | await self._presign_upload(upload)
                )
            await reports.insert_uploads(
                conn, tenant_id=tenant_id, uploads=uploads, requested_by=principal.user_id
            )
        return {"uploads": answers}

    def check_file(self, content_type: str, size_bytes: int) -> None:
        """Raises Invalid unless the type is allowed and ``size_bytes`` within its limit."""
        limit = self._max_bytes.get(content_type)
        if limit is None:
            raise Invalid(
                "this content type is not accepted",
                {"reason": "content_type_not_allowed", "allowed": sorted(self._max_bytes)},
            )
        if size_bytes > limit:
            raise Invalid(
                f"{content_type} files may be at most {limit} bytes",
                {"reason": "too_large", "max_bytes": limit, "content_type": content_type},
            )

    # -- completion ----------------------------------------------------------------------------

    async def complete(
        self, principal: Principal, booking_id: UUID, upload_id: UUID, ctx: AuditContext
    ) -> dict[str, Any]:
        """Record an upload as a report once its object is in the store (idempotent: again,
        the same report with ``created: false``). Raises NotFound (unknown upload or
        booking), Forbidden, Conflict (``details.reason = "not_uploaded"``), Invalid (the
        stored object is larger than declared or of another type)."""
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            booking = await self._booking(conn, tenant_id, booking_id)
            await check_booking_staff(conn, principal, booking, action="add its reports")
            upload = (
                await reports.get_uploads(conn, tenant_id=tenant_id, upload_ids=[upload_id])
            ).get(upload_id)
            if upload is None or upload.booking_id != booking_id:
                raise NotFound("no such upload for this booking", {"upload_id": str(upload_id)})
            done = await reports.reports_of_uploads(
                conn, tenant_id=tenant_id, upload_ids=[upload_id]
            )
        if upload_id in done:
            return _report_view(done[upload_id], created=False)
        report, created = await self._finish(principal, upload, ctx)
        return _report_view(report, created=created)

    async def complete_bulk(
        self,
        principal: Principal,
        tenant_id: UUID,
        request: CompleteBulkUploads,
        ctx: AuditContext,
    ) -> dict[str, Any]:
        """Complete each upload on its own (its own transaction: an item is recorded and
        notified entirely or not at all); per item ``completed``, ``not_uploaded`` or
        ``invalid`` (with ``reason``). Unavailable if the store cannot be asked: items
        completed before stay completed, and the same request can be sent again."""
        if not principal.may_act_in(tenant_id):
            raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
        upload_ids = list(dict.fromkeys(request.upload_ids))
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            uploads = await reports.get_uploads(conn, tenant_id=tenant_id, upload_ids=upload_ids)
            done = await reports.reports_of_uploads(
                conn, tenant_id=tenant_id, upload_ids=upload_ids
            )
        gate = asyncio.Semaphore(BULK_HEAD_CONCURRENCY)

        async def one(upload_id: UUID) -> dict[str, Any]:
            upload = uploads.get(upload_id)
            if upload is None:
                return {
                    "upload_id": str(upload_id),
                    "status": "invalid",
                    "reason": "unknown_upload",
                }
            base = {"upload_id": str(upload_id), "booking_id": str(upload.booking_id)}
            if upload_id in done:
                return base | {"status": "completed", "report_id": str(done[upload_id].report_id)}
            async with gate:
                try:
                    report, _ = await self._finish(principal, upload, ctx)
                except Conflict as exc:
                    return base | {"status": "not_uploaded", "reason": _reason(exc)}
                except Invalid as exc:
                    return base | {"status": "invalid", "reason": _reason(exc)}
            return base | {"status": "completed", "report_id": str(report.report_id)}

        results = await asyncio.gather(*(one(upload_id) for upload_id in upload_ids))
        counts = {
            s: sum(r["status"] == s for r in results)
            for s in ("completed", "not_uploaded", "invalid")
        }
        return {"results": results, **counts}

    async def _finish(
        self, principal: Principal, upload: ReportUpload, ctx: AuditContext
    ) -> tuple[BookingReport, bool]:
        stored = await self._store.head(upload.object_key)
        if stored is None:
            raise Conflict(
                "nothing has been uploaded to this upload's URL yet",
                {"reason": "not_uploaded", "upload_id": str(upload.upload_id)},
            )
        if stored.size_bytes > upload.size_bytes:
            raise Invalid(
                "the uploaded file is larger than declared",
                {
                    "reason": "size_mismatch",
                    "declared_bytes": upload.size_bytes,
                    "stored_bytes": stored.size_bytes,
                },
            )
        if stored.content_type != upload.content_type:
            raise Invalid(
                "the uploaded file's content type differs from the declared one",
                {
                    "reason": "content_type_mismatch",
                    "declared": upload.content_type,
                    "stored": stored.content_type,
                },
            )
        tenant_id = upload.tenant_id
        async with tenant_scope(self._db, tenant_id) as conn:
            # The lock makes a racing completion of the same upload wait, then find the report.
            await reports.get_uploads(
                conn, tenant_id=tenant_id, upload_ids=[upload.upload_id], for_update=True
            )
            booking = await self._booking(conn, tenant_id, upload.booking_id)
            report = await reports.record_report(
                conn,
                upload=upload,
                report_id=uuid.uuid4(),
                size_bytes=stored.size_bytes,
                uploaded_by=principal.user_id,
                devotees=booking.devotees,
            )
            if report is None:
                done = await reports.reports_of_uploads(
                    conn, tenant_id=tenant_id, upload_ids=[upload.upload_id]
                )
                return done[upload.upload_id], False
            await record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="booking.report_added",
                entity="booking",
                entity_id=upload.booking_id,
                after={
                    "report_id": report.report_id,
                    "upload_id": report.upload_id,
                    "filename": report.filename,
                    "content_type": report.content_type,
                    "size_bytes": report.size_bytes,
                },
            )
        return report, True

    # -- downloads -----------------------------------------------------------------------------

    async def list_reports(self, principal: Principal, booking_id: UUID) -> dict[str, Any]:
        """The booking's reports, oldest first, each with a presigned GET. Only its owner and
        member accounts and the tenant's staff; anyone else: NotFound."""
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            booking = await self._booking(conn, tenant_id, booking_id)
            check_booking_reader(principal, booking)
            found = await reports.list_reports(conn, tenant_id=tenant_id, booking_id=booking_id)
        items = []
        for report in found:
            link = await self._store.presign_get(
                report.object_key,
                expires_secs=self._download_expiry_secs,
                download_name=safe_filename(report.filename),
            )
            items.append(
                {
                    "report_id": str(report.report_id),
                    "filename": report.filename,
                    "content_type": report.content_type,
                    "size_bytes": report.size_bytes,
                    "created_at": report.created_at.isoformat(),
                    "download_url": link.url,
                    "expires_at": link.expires_at.isoformat(),
                }
            )
        return {"reports": items}

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    async def _booking(conn: asyncpg.Connection, tenant_id: UUID, booking_id: UUID) -> BookingLive:
        booking = await live_status.load(conn, tenant_id=tenant_id, booking_id=booking_id)
        if booking is None:
            raise NotFound("no such booking", {"booking_id": str(booking_id)})
        return booking

    @staticmethod
    def _check_confirmed(booking: BookingLive, *, index: int | None = None) -> None:
        if booking.hold_status != "confirmed":
            details: dict[str, Any] = {
                "booking_id": str(booking.booking_id),
                "status": booking.hold_status,
                "reason": "not_confirmed",
            }
            if index is not None:
                details["index"] = index
            raise Conflict("only a confirmed booking takes reports", details)

    @staticmethod
    def _new_upload(
        tenant_id: UUID, booking_id: UUID, filename: str, content_type: str, size_bytes: int
    ) -> ReportUpload:
        upload_id = uuid.uuid4()
        return ReportUpload(
            upload_id=upload_id,
            tenant_id=tenant_id,
            booking_id=booking_id,
            object_key=object_key(tenant_id, booking_id, upload_id, filename),
            filename=filename,
            content_type=content_type,
            size_bytes=size_bytes,
        )

    async def _presign_upload(self, upload: ReportUpload) -> dict[str, Any]:
        link = await self._store.presign_put(
            upload.object_key,
            content_type=upload.content_type,
            max_bytes=upload.size_bytes,
            expires_secs=self._upload_expiry_secs,
        )
        return {"upload_id": str(upload.upload_id), "key": upload.object_key, **link.wire()}


def _reason(exc: Conflict | Invalid) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    return str(details.get("reason", exc.code))


def _report_view(report: BookingReport, *, created: bool) -> dict[str, Any]:
    return {
        "report_id": str(report.report_id),
        "upload_id": str(report.upload_id),
        "booking_id": str(report.booking_id),
        "filename": report.filename,
        "content_type": report.content_type,
        "size_bytes": report.size_bytes,
        "created_at": report.created_at.isoformat(),
        "created": created,
    }
