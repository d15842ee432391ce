"""Attendance at a study library and its live occupancy.

Staff scan a student's QR token (:mod:`hub.attendance_qr`) to check them in and out. The
check-in finds the student's confirmed seat booking running now (or starting within
``library_check_in_early_secs``) and records it once, ``late`` when more than
``library_late_after_secs`` after the booking's start; the check-out closes the open row and
stores the duration. A library is a tenant: ``library_id`` is the tenant id.

After each committed change the hub that made it emits ``occupancy {library_id, occupied,
capacity, at}`` to the room ``occupancy:{library_id}`` (through Redis when rooms are shared).
Each value is absolute and read after the commit; a client keeps the one with the latest
``at``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import socketio

from hub.attendance_qr import QrTokens
from hub.auth import Principal
from protocols.errors import Conflict, Invalid, NotFound
from protocols.library import OCCUPANCY_EVENT, AttendanceScan, occupancy_room
from protocols.wire import parse_iso_date
from storage import attendance as store
from storage import audit
from storage.audit import AuditContext
from storage.tenancy import tenant_scope


class AttendanceService:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        sio: socketio.AsyncServer,
        qr: QrTokens,
        late_after_secs: int,
        early_secs: int,
    ) -> None:
        self._db = db
        self._sio = sio
        self._qr = qr
        self._late_after_secs = late_after_secs
        self._early_secs = early_secs

    def qr_for(self, principal: Principal) -> dict[str, Any]:
        """The caller's current QR token (any user of a tenant)."""
        if principal.tenant_id is None:
            raise NotFound("platform operators have no attendance QR")
        identity = self._qr.issue(user_id=principal.user_id, tenant_id=principal.tenant_id)
        return {
            "qr_token": self._qr.encode(identity),
            "expires_at": datetime.fromtimestamp(identity.expires_at, UTC).isoformat(),
            "ttl_secs": self._qr.ttl_secs,
        }

    async def check_in(
        self, principal: Principal, scan: AttendanceScan, ctx: AuditContext
    ) -> dict[str, Any]:
        tenant_id = _staff_tenant(principal)
        if scan.idempotency_key is not None:
            async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
                done = await store.by_check_in_key(
                    conn, tenant_id=tenant_id, key=scan.idempotency_key
                )
            if done is not None:
                return {**done.wire(), "changed": False}
        user_id = self._student_of(scan, tenant_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            booking = await store.booking_now(
                conn, tenant_id=tenant_id, user_id=user_id, early_secs=self._early_secs
            )
            if booking is None:
                raise Conflict("the student has no seat booking now", {"reason": "no_booking_now"})
            row, made = await store.check_in(
                conn,
                tenant_id=tenant_id,
                user_id=user_id,
                booking=booking,
                by_user_id=principal.user_id,
                key=scan.idempotency_key,
                late_after_secs=self._late_after_secs,
            )
            if made:
                await audit.record(
                    conn,
                    ctx,
                    tenant_id=tenant_id,
                    action="attendance.checked_in",
                    entity="attendance",
                    entity_id=row.id,
                    after=row.wire(),
                )
        if made:
            await self.publish(tenant_id)
        return {**row.wire(), "changed": made}

    async def check_out(
        self, principal: Principal, scan: AttendanceScan, ctx: AuditContext
    ) -> dict[str, Any]:
        tenant_id = _staff_tenant(principal)
        if scan.idempotency_key is not None:
            async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
                done = await store.by_check_out_key(
                    conn, tenant_id=tenant_id, key=scan.idempotency_key
                )
            if done is not None:
                return {**done.wire(), "changed": False}
        user_id = self._student_of(scan, tenant_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            latest = await store.latest_of_user(conn, tenant_id=tenant_id, user_id=user_id)
            if latest is None:
                raise Conflict("the student is not checked in", {"reason": "not_checked_in"})
            if latest.checked_out_at is not None:
                return {**latest.wire(), "changed": False}
            row = await store.check_out(
                conn,
                attendance_id=latest.id,
                by_user_id=principal.user_id,
                key=scan.idempotency_key,
            )
            await audit.record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="attendance.checked_out",
                entity="attendance",
                entity_id=row.id,
                before=latest.wire(),
                after=row.wire(),
            )
        await self.publish(tenant_id)
        return {**row.wire(), "changed": True}

    async def occupancy(self, principal: Principal, library_id: UUID) -> dict[str, Any]:
        if not principal.may_act_in(library_id):
            raise NotFound("no such library", {"library_id": str(library_id)})
        async with tenant_scope(self._db, library_id, readonly=True) as conn:
            now = await store.occupancy(conn, tenant_id=library_id)
        return _occupancy_view(library_id, now)

    async def follow(self, sid: str, principal: Principal, library_id: UUID) -> dict[str, Any]:
        snapshot = await self.occupancy(principal, library_id)
        await self._sio.enter_room(sid, occupancy_room(library_id))
        return snapshot

    async def unfollow(self, sid: str, library_id: UUID) -> dict[str, Any]:
        await self._sio.leave_room(sid, occupancy_room(library_id))
        return {"library_id": str(library_id)}

    async def publish(self, library_id: UUID) -> None:
        """Emit the library's occupancy as it is now (call after the change committed)."""
        async with tenant_scope(self._db, library_id, readonly=True) as conn:
            now = await store.occupancy(conn, tenant_id=library_id)
        await self._sio.emit(
            OCCUPANCY_EVENT, _occupancy_view(library_id, now), room=occupancy_room(library_id)
        )

    async def day_report(self, principal: Principal, library_id: UUID, day: str) -> dict[str, Any]:
        """Every seat booking of ``day`` (the tenant's local date) with its attendance."""
        if not principal.is_staff_of(library_id):
            raise NotFound("no such library", {"library_id": str(library_id)})
        try:
            local_day = parse_iso_date(day)
        except ValueError as exc:
            raise Invalid("date must be YYYY-MM-DD", {"loc": ["query", "date"]}) from exc
        async with tenant_scope(self._db, library_id, readonly=True) as conn:
            rows = await store.day_report(conn, tenant_id=library_id, day=local_day)
        counts = {s: 0 for s in ("on_time", "late", "absent", "expected")}
        for row in rows:
            counts[row["status"]] += 1
        return {
            "library_id": str(library_id),
            "date": local_day.isoformat(),
            "bookings": rows,
            "counts": counts,
        }

    def _student_of(self, scan: AttendanceScan, tenant_id: UUID) -> UUID:
        identity = self._qr.verify(scan.qr_token)
        if identity.tenant_id != tenant_id:
            raise NotFound("no such student here", {"reason": "other_library"})
        return identity.user_id


def _staff_tenant(principal: Principal) -> UUID:
    if principal.tenant_id is None:
        raise NotFound("attendance is taken by a library's own staff")
    return principal.tenant_id


def _occupancy_view(library_id: UUID, now: store.Occupancy) -> dict[str, Any]:
    return {
        "library_id": str(library_id),
        "occupied": now.occupied,
        "capacity": now.capacity,
        "at": now.at.isoformat(),
    }
