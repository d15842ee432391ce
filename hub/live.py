"""Live status of bookings: staff push it, devotees and followers receive it in order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import socketio

from hub.auth import Principal
from hub.booking_access import check_booking_staff, tenant_of_booking
from hub.feeds import catch_up
from protocols.errors import Conflict, NotFound
from protocols.live import FollowBooking, PushLiveStatus, check_transition
from protocols.permissions import Role
from storage import live_status
from storage.audit import AuditContext, record
from storage.feeds import booking_stream
from storage.tenancy import tenant_scope
from storage.users import get_user

NOTIFY_ON = {"started": "puja_started", "completed": "puja_completed"}


class LiveStatusService:
    def __init__(self, *, db: asyncpg.Pool, sio: socketio.AsyncServer) -> None:
        self._db = db
        self._sio = sio

    async def push(self, principal: Principal, request: PushLiveStatus) -> dict[str, Any]:
        """Move a confirmed booking's live status forward; repeating the current status is a
        no-op that answers the stored status. Raises Forbidden for staff not assigned to it,
        Conflict for a backwards move or an unconfirmed booking."""
        tenant_id = await tenant_of_booking(self._db, principal, request.booking_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            booking = await live_status.load(
                conn, tenant_id=tenant_id, booking_id=request.booking_id, for_update=True
            )
            if booking is None:
                raise NotFound("no such booking", {"booking_id": str(request.booking_id)})
            await check_booking_staff(conn, principal, booking, action="push its status")
            if booking.hold_status != "confirmed":
                raise Conflict(
                    "only a confirmed booking has a live status",
                    {"booking_id": str(booking.booking_id), "status": booking.hold_status},
                )
            if not check_transition(booking.live_status, request.status):
                return {
                    "booking_id": str(booking.booking_id),
                    "status": booking.live_status,
                    "changed": False,
                }
            payload = await live_status.set_status(
                conn,
                booking=booking,
                status=request.status,
                note=request.note,
                by_user_id=principal.user_id,
                notify_kind=NOTIFY_ON.get(request.status),
            )
        return {**payload, "changed": True}

    async def assign(
        self, principal: Principal, booking_id: UUID, staff_id: UUID, ctx: AuditContext
    ) -> dict[str, Any]:
        """Assign a staff member of the tenant; a booking with no status yet becomes
        ``assigned`` (announced like any status)."""
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            booking = await live_status.load(
                conn, tenant_id=tenant_id, booking_id=booking_id, for_update=True
            )
            if booking is None:
                raise NotFound("no such booking", {"booking_id": str(booking_id)})
            staff = await get_user(conn, tenant_id=tenant_id, user_id=staff_id)
            if staff is None or staff.role not in (Role.STAFF, Role.TENANT_ADMIN):
                raise NotFound("no such staff member", {"staff_user_id": str(staff_id)})
            await live_status.set_assignee(
                conn, tenant_id=tenant_id, booking_id=booking_id, staff_id=staff_id
            )
            await record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="booking.assign_staff",
                entity="booking",
                entity_id=booking_id,
                before={"assigned_staff_id": booking.assigned_staff_id},
                after={"assigned_staff_id": staff_id},
            )
            status = booking.live_status
            if status is None and booking.hold_status == "confirmed":
                await live_status.set_status(
                    conn,
                    booking=booking,
                    status="assigned",
                    note=None,
                    by_user_id=principal.user_id,
                    notify_kind=None,
                )
                status = "assigned"
        return {
            "booking_id": str(booking_id),
            "assigned_staff_id": str(staff_id),
            "status": status,
        }

    async def follow(
        self, sid: str, principal: Principal, request: FollowBooking
    ) -> dict[str, Any]:
        """Join the booking's room (its devotees, staff of its tenant) and catch up."""
        tenant_id = await tenant_of_booking(self._db, principal, request.booking_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            booking = await live_status.load(
                conn, tenant_id=tenant_id, booking_id=request.booking_id
            )
        if booking is None or not (
            principal.is_staff_of(tenant_id) or principal.user_id in booking.devotees
        ):
            raise NotFound("no such booking", {"booking_id": str(request.booking_id)})
        stream = booking_stream(request.booking_id)
        await self._sio.enter_room(sid, stream)

        async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
            current = await live_status.load(
                conn, tenant_id=tenant_id, booking_id=request.booking_id
            )
            assert current is not None  # bookings are never deleted
            return {
                "booking_id": str(current.booking_id),
                "status": current.live_status,
                "at": current.live_status_at.isoformat() if current.live_status_at else None,
                "assigned_staff_id": (
                    str(current.assigned_staff_id) if current.assigned_staff_id else None
                ),
            }

        return await catch_up(
            self._db, self._sio, sid=sid, stream=stream, since=request.since, snapshot=snapshot
        )

    async def unfollow(self, sid: str, booking_id: UUID) -> dict[str, Any]:
        stream = booking_stream(booking_id)
        if stream not in self._sio.rooms(sid):
            raise NotFound("not following this booking", {"booking_id": str(booking_id)})
        await self._sio.leave_room(sid, stream)
        return {"booking_id": str(booking_id)}
