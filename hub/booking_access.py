"""Who may act on a booking as its staff, and who may see it. One rule for live status,
streams and reports."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from hub.auth import Principal
from protocols.errors import Forbidden, NotFound
from protocols.permissions import Role
from storage import availability, live_status
from storage.live_status import BookingLive


async def check_booking_staff(
    conn: asyncpg.Connection, principal: Principal, booking: BookingLive, *, action: str
) -> None:
    """Tenant (and platform) admins; the staff member assigned to the booking; if it has no
    assignee, staff assigned to its resource. Anyone else: Forbidden (``action`` names what
    was refused, e.g. "push its status")."""
    if principal.role in (Role.TENANT_ADMIN, Role.PLATFORM_ADMIN):
        return
    if booking.assigned_staff_id == principal.user_id:
        return
    if booking.assigned_staff_id is None and await live_status.staff_covers_resource(
        conn,
        tenant_id=booking.tenant_id,
        user_id=principal.user_id,
        resource_id=booking.resource_id,
    ):
        return
    raise Forbidden(
        f"only the staff member assigned to this booking may {action}",
        {"booking_id": str(booking.booking_id)},
    )


def check_booking_reader(principal: Principal, booking: BookingLive) -> None:
    """The booking's owner and member accounts and its tenant's staff; anyone else gets
    NotFound (the booking's existence is not revealed)."""
    if principal.is_staff_of(booking.tenant_id) or principal.user_id in booking.devotees:
        return
    raise NotFound("no such booking", {"booking_id": str(booking.booking_id)})


async def tenant_of_booking(db: asyncpg.Pool, principal: Principal, booking_id: UUID) -> UUID:
    """The booking's tenant; NotFound if there is no such booking or the caller may not act
    in its tenant."""
    async with db.acquire() as conn:
        tenant_id = await availability.tenant_of_hold(conn, hold_id=booking_id)
    if tenant_id is None or not principal.may_act_in(tenant_id):
        raise NotFound("no such booking", {"booking_id": str(booking_id)})
    return tenant_id
