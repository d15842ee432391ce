"""Attendance at study libraries: one row per booking, checked in and out by staff, and the
live occupancy of a library (the tenant)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class SeatBooking:
    booking_id: UUID
    resource_id: UUID
    slot_id: UUID
    local_date: date
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Attendance:
    id: UUID
    user_id: UUID
    booking_id: UUID
    resource_id: UUID
    local_date: date
    checked_in_at: datetime
    late_by_secs: int
    status: str
    checked_out_at: datetime | None
    duration_secs: int | None

    def wire(self) -> dict[str, Any]:
        return {
            "attendance_id": str(self.id),
            "user_id": str(self.user_id),
            "booking_id": str(self.booking_id),
            "resource_id": str(self.resource_id),
            "date": self.local_date.isoformat(),
            "checked_in_at": self.checked_in_at.isoformat(),
            "status": self.status,
            "late_by_secs": self.late_by_secs,
            "checked_out_at": self.checked_out_at.isoformat() if self.checked_out_at else None,
            "duration_secs": self.duration_secs,
        }


@dataclass(frozen=True)
class Occupancy:
    occupied: int
    capacity: int
    at: datetime


_COLUMNS = (
    "id, user_id, booking_id, resource_id, local_date, checked_in_at, late_by_secs, status, "
    "checked_out_at, duration_secs"
)


async def booking_now(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID, early_secs: int
) -> SeatBooking | None:
    """The user's confirmed seat booking that is running now or starts within ``early_secs``
    (the earliest such; one already checked in counts too)."""
    row = await conn.fetchrow(
        """
        SELECT h.id, s.resource_id, s.id AS slot_id, s.local_date, s.starts_at, s.ends_at
        FROM holds h
        JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
        JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
        WHERE h.tenant_id = $1 AND h.user_id = $2 AND h.status = 'confirmed'
          AND r.kind = 'seat' AND s.ends_at > now()
          AND s.starts_at <= now() + make_interval(secs => $3)
        ORDER BY s.starts_at
        LIMIT 1
        """,
        tenant_id,
        user_id,
        early_secs,
    )
    if row is None:
        return None
    return SeatBooking(
        row["id"],
        row["resource_id"],
        row["slot_id"],
        row["local_date"],
        row["starts_at"],
        row["ends_at"],
    )


async def by_check_in_key(
    conn: asyncpg.Connection, *, tenant_id: UUID, key: str
) -> Attendance | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM attendance WHERE tenant_id = $1 AND check_in_key = $2",
        tenant_id,
        key,
    )
    return _attendance(row) if row else None


async def by_check_out_key(
    conn: asyncpg.Connection, *, tenant_id: UUID, key: str
) -> Attendance | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM attendance WHERE tenant_id = $1 AND check_out_key = $2",
        tenant_id,
        key,
    )
    return _attendance(row) if row else None


async def check_in(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    user_id: UUID,
    booking: SeatBooking,
    by_user_id: UUID,
    key: str | None,
    late_after_secs: int,
) -> tuple[Attendance, bool]:
    """Check the booking in now (late when now is more than ``late_after_secs`` after its
    start); (the row, whether made now). A booking already checked in answers its row."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO attendance (id, tenant_id, user_id, booking_id, resource_id, local_date,
                                checked_in_at, checked_in_by, check_in_key, late_by_secs, status)
        SELECT $1, $2, $3, $4, $5, $6, now(), $7, $8, d.late, d.status
        FROM (SELECT greatest(0, floor(extract(epoch FROM now() - $9::timestamptz)))::int
                         AS late,
                     CASE WHEN now() > $9::timestamptz + make_interval(secs => $10)
                          THEN 'late' ELSE 'on_time' END AS status) AS d
        ON CONFLICT (booking_id) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        uuid.uuid4(),
        tenant_id,
        user_id,
        booking.booking_id,
        booking.resource_id,
        booking.local_date,
        by_user_id,
        key,
        booking.starts_at,
        late_after_secs,
    )
    if row is not None:
        return _attendance(row), True
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM attendance WHERE tenant_id = $1 AND booking_id = $2",
        tenant_id,
        booking.booking_id,
    )
    assert row is not None
    return _attendance(row), False


async def latest_of_user(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID
) -> Attendance | None:
    """The user's open check-in, else their latest attendance row."""
    row = await conn.fetchrow(
        f"""
        SELECT {_COLUMNS} FROM attendance WHERE tenant_id = $1 AND user_id = $2
        ORDER BY checked_out_at IS NULL DESC, checked_in_at DESC LIMIT 1
        FOR UPDATE
        """,
        tenant_id,
        user_id,
    )
    return _attendance(row) if row else None


async def check_out(
    conn: asyncpg.Connection, *, attendance_id: UUID, by_user_id: UUID, key: str | None
) -> Attendance:
    row = await conn.fetchrow(
        f"""
        UPDATE attendance SET checked_out_at = now(), checked_out_by = $2, check_out_key = $3,
               duration_secs = floor(extract(epoch FROM now() - checked_in_at))::int
        WHERE id = $1 AND checked_out_at IS NULL
        RETURNING {_COLUMNS}
        """,
        attendance_id,
        by_user_id,
        key,
    )
    assert row is not None
    return _attendance(row)


async def occupancy(conn: asyncpg.Connection, *, tenant_id: UUID) -> Occupancy:
    """Students checked in and not out, whose booking has not ended; capacity is the sum of the
    ``capacity`` of the tenant's active seat resources. ``at`` is the read's snapshot time."""
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM attendance a
             JOIN holds h ON h.id = a.booking_id
             JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
           WHERE a.tenant_id = $1 AND a.checked_out_at IS NULL AND s.ends_at > now())
            AS occupied,
          (SELECT coalesce(sum(coalesce(capacity, 0)), 0) FROM resources
           WHERE tenant_id = $1 AND kind = 'seat' AND status = 'active') AS capacity,
          now() AS at
        """,
        tenant_id,
    )
    assert row is not None
    return Occupancy(int(row["occupied"]), int(row["capacity"]), row["at"])


async def day_report(
    conn: asyncpg.Connection, *, tenant_id: UUID, day: date
) -> list[dict[str, Any]]:
    """Every confirmed seat booking of ``day`` with its attendance: ``on_time`` / ``late``
    (checked in), ``absent`` (never checked in and the booking has ended), ``expected``
    (not yet)."""
    rows = await conn.fetch(
        """
        SELECT h.id AS booking_id, h.user_id, u.name, s.resource_id, s.id AS slot_id,
               s.starts_at, s.ends_at, a.checked_in_at, a.checked_out_at, a.late_by_secs,
               a.duration_secs,
               CASE WHEN a.id IS NOT NULL THEN a.status
                    WHEN s.ends_at <= now() THEN 'absent' ELSE 'expected' END AS status
        FROM holds h
        JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
        JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
        JOIN users u ON u.id = h.user_id
        LEFT JOIN attendance a ON a.booking_id = h.id
        WHERE h.tenant_id = $1 AND h.status = 'confirmed' AND r.kind = 'seat'
          AND s.local_date = $2
        ORDER BY s.starts_at, u.name, h.id
        """,
        tenant_id,
        day,
    )
    return [
        {
            "booking_id": str(r["booking_id"]),
            "user_id": str(r["user_id"]),
            "name": r["name"],
            "resource_id": str(r["resource_id"]),
            "slot_id": str(r["slot_id"]),
            "starts_at": r["starts_at"].isoformat(),
            "ends_at": r["ends_at"].isoformat(),
            "status": r["status"],
            "checked_in_at": r["checked_in_at"].isoformat() if r["checked_in_at"] else None,
            "checked_out_at": r["checked_out_at"].isoformat() if r["checked_out_at"] else None,
            "late_by_secs": r["late_by_secs"],
            "duration_secs": r["duration_secs"],
        }
        for r in rows
    ]


def _attendance(row: asyncpg.Record) -> Attendance:
    return Attendance(
        id=row["id"],
        user_id=row["user_id"],
        booking_id=row["booking_id"],
        resource_id=row["resource_id"],
        local_date=row["local_date"],
        checked_in_at=row["checked_in_at"],
        late_by_secs=row["late_by_secs"],
        status=row["status"],
        checked_out_at=row["checked_out_at"],
        duration_secs=row["duration_secs"],
    )
