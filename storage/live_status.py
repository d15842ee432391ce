"""Live status of bookings (confirmed holds) and who follows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from protocols.live import LIVE_STATUS_EVENT
from storage import feeds, notifications


@dataclass(frozen=True)
class BookingLive:
    booking_id: UUID
    tenant_id: UUID
    resource_id: UUID
    owner_id: UUID
    hold_status: str
    assigned_staff_id: UUID | None
    live_status: str | None
    live_status_at: datetime | None
    member_ids: tuple[UUID, ...]

    @property
    def devotees(self) -> tuple[UUID, ...]:
        """The owner first, then every member account, each once."""
        return tuple(dict.fromkeys((self.owner_id, *self.member_ids)))


async def load(
    conn: asyncpg.Connection, *, tenant_id: UUID, booking_id: UUID, for_update: bool = False
) -> BookingLive | None:
    row = await conn.fetchrow(
        "SELECT h.id, h.tenant_id, h.user_id, h.status, h.assigned_staff_id, h.live_status, "
        "h.live_status_at, s.resource_id FROM holds h "
        "JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id "
        "WHERE h.tenant_id = $1 AND h.id = $2" + (" FOR UPDATE OF h" if for_update else ""),
        tenant_id,
        booking_id,
    )
    if row is None:
        return None
    members = await conn.fetch(
        "SELECT user_id FROM booking_members WHERE hold_id = $1 ORDER BY user_id", booking_id
    )
    return BookingLive(
        booking_id=row["id"],
        tenant_id=row["tenant_id"],
        resource_id=row["resource_id"],
        owner_id=row["user_id"],
        hold_status=row["status"],
        assigned_staff_id=row["assigned_staff_id"],
        live_status=row["live_status"],
        live_status_at=row["live_status_at"],
        member_ids=tuple(r["user_id"] for r in members),
    )


async def staff_covers_resource(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID, resource_id: UUID
) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM staff_assignments WHERE tenant_id = $1 AND user_id = $2 "
        "AND resource_id = $3",
        tenant_id,
        user_id,
        resource_id,
    )
    return found is not None


async def set_assignee(
    conn: asyncpg.Connection, *, tenant_id: UUID, booking_id: UUID, staff_id: UUID
) -> None:
    await conn.execute(
        "UPDATE holds SET assigned_staff_id = $3, updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        booking_id,
        staff_id,
    )


async def set_status(
    conn: asyncpg.Connection,
    *,
    booking: BookingLive,
    status: str,
    note: str | None,
    by_user_id: UUID,
    notify_kind: str | None,
) -> dict[str, Any]:
    """Store the new status and announce it, all in the caller's transaction: one event on the
    booking's stream, one on each devotee's own stream, and (``notify_kind``) one inbox
    notification per devotee. Returns the booking-stream payload."""
    at: datetime = await conn.fetchval(
        "UPDATE holds SET live_status = $3, live_status_at = now(), updated_at = now() "
        "WHERE tenant_id = $1 AND id = $2 RETURNING live_status_at",
        booking.tenant_id,
        booking.booking_id,
        status,
    )
    payload: dict[str, Any] = {
        "booking_id": str(booking.booking_id),
        "status": status,
        "note": note,
        "at": at.isoformat(),
        "by": str(by_user_id),
    }
    stream = feeds.booking_stream(booking.booking_id)
    seq = await feeds.append(
        conn,
        stream=stream,
        tenant_id=booking.tenant_id,
        room=stream,
        event=LIVE_STATUS_EVENT,
        payload=payload,
    )
    for user_id in booking.devotees:
        mine = feeds.user_stream(user_id)
        await feeds.append(
            conn,
            stream=mine,
            tenant_id=booking.tenant_id,
            room=mine,
            event=LIVE_STATUS_EVENT,
            payload=payload,
        )
        if notify_kind is not None:
            await notifications.enqueue(
                conn,
                tenant_id=booking.tenant_id,
                user_id=user_id,
                kind=notify_kind,
                data={"booking_id": str(booking.booking_id), "status": status},
                dedupe_key=f"{notify_kind}:{booking.booking_id}:{user_id}",
            )
    return {**payload, "stream": stream, "seq": seq}
