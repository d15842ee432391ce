"""Meeting rooms of consultation bookings (table ``booking_meetings``), made once per booking
in the transaction that confirms it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from protocols.meetings import MeetingBooking, provider_for

CONSULTATION_KIND = "consultation"


@dataclass(frozen=True)
class BookingMeeting:
    booking_id: UUID
    tenant_id: UUID
    provider: str
    room_id: str
    url: str
    created_at: datetime

    def wire(self) -> dict[str, str]:
        return {
            "booking_id": str(self.booking_id),
            "provider": self.provider,
            "room_id": self.room_id,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
        }


async def create_for_confirmed(conn: asyncpg.Connection, *, hold_ids: Sequence[UUID]) -> int:
    """A room for each of ``hold_ids`` that is a consultation booking without one yet, from
    its tenant's provider settings; returns how many were made. Call it in the transaction that
    confirms the holds, before their ``booking_confirmed`` is queued (it carries the url); a
    re-applied batch makes nothing twice."""
    rows = await conn.fetch(
        """
        SELECT h.id, h.tenant_id, r.id AS resource_id, cs.meeting_base_url
        FROM holds h
        JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
        JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
        LEFT JOIN consultation_settings cs ON cs.tenant_id = h.tenant_id
        WHERE h.id = ANY($1::uuid[]) AND r.kind = $2
          AND NOT EXISTS (SELECT 1 FROM booking_meetings m WHERE m.hold_id = h.id)
        """,
        list(hold_ids),
        CONSULTATION_KIND,
    )
    if not rows:
        return 0
    links = [
        provider_for(row["meeting_base_url"]).create_room(
            MeetingBooking(row["id"], row["tenant_id"], row["resource_id"])
        )
        for row in rows
    ]
    made = await conn.fetchval(
        """
        WITH i AS (
            INSERT INTO booking_meetings (hold_id, tenant_id, provider, room_id, url)
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[])
            ON CONFLICT (hold_id) DO NOTHING
            RETURNING 1
        ) SELECT count(*) FROM i
        """,
        [r["id"] for r in rows],
        [r["tenant_id"] for r in rows],
        [link.provider for link in links],
        [link.room_id for link in links],
        [link.url for link in links],
    )
    return int(made)


async def get(
    conn: asyncpg.Connection, *, tenant_id: UUID, booking_id: UUID
) -> BookingMeeting | None:
    row = await conn.fetchrow(
        "SELECT hold_id, tenant_id, provider, room_id, url, created_at FROM booking_meetings "
        "WHERE tenant_id = $1 AND hold_id = $2",
        tenant_id,
        booking_id,
    )
    if row is None:
        return None
    return BookingMeeting(
        row["hold_id"],
        row["tenant_id"],
        row["provider"],
        row["room_id"],
        row["url"],
        row["created_at"],
    )
