"""Padel venues (migration 0018): court status for the venue room, and open matches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from storage import feeds


def venue_stream(tenant_id: UUID) -> str:
    """The venue room's feed stream; also the Socket.IO room its subscribers are in."""
    return f"venue:{tenant_id}"


async def court_of_slot(conn: asyncpg.Connection, *, tenant_id: UUID, slot_id: UUID) -> UUID | None:
    """The court (resource) of a slot, if the slot is a court's."""
    found: UUID | None = await conn.fetchval(
        "SELECT r.id FROM slots s JOIN resources r ON r.tenant_id = s.tenant_id "
        "AND r.id = s.resource_id WHERE s.tenant_id = $1 AND s.id = $2 AND r.kind = 'court'",
        tenant_id,
        slot_id,
    )
    return found


async def is_court(conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM resources WHERE tenant_id = $1 AND id = $2 "
        "AND kind = 'court')",
        tenant_id,
        resource_id,
    )
    return found


async def set_court_status(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    court_id: UUID,
    status: str,
    slot_id: UUID | None,
    by_user_id: UUID | None,
    at: datetime,
) -> dict[str, Any]:
    """Store the court's status and queue its ``court`` event (in the caller's transaction);
    returns the event with its ``stream`` and ``seq``."""
    await conn.execute(
        """
        INSERT INTO court_status (tenant_id, resource_id, status, slot_id, by_user_id, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (tenant_id, resource_id) DO UPDATE SET status = $3, slot_id = $4,
            by_user_id = $5, updated_at = $6
        """,
        tenant_id,
        court_id,
        status,
        slot_id,
        by_user_id,
        at,
    )
    payload: dict[str, Any] = {
        "court_id": str(court_id),
        "slot_id": str(slot_id) if slot_id else None,
        "status": status,
        "at": at.isoformat(),
    }
    stream = venue_stream(tenant_id)
    seq = await feeds.append(
        conn, stream=stream, tenant_id=tenant_id, room=stream, event="court", payload=payload
    )
    return {**payload, "stream": stream, "seq": seq}


async def courts(conn: asyncpg.Connection, *, tenant_id: UUID) -> list[dict[str, Any]]:
    """Every active court of the tenant with its last status (``free`` if never set)."""
    rows = await conn.fetch(
        """
        SELECT r.id, r.name, c.status, c.slot_id, c.updated_at FROM resources r
        LEFT JOIN court_status c ON c.tenant_id = r.tenant_id AND c.resource_id = r.id
        WHERE r.tenant_id = $1 AND r.kind = 'court' AND r.status = 'active'
        ORDER BY r.name, r.id
        """,
        tenant_id,
    )
    return [
        {
            "court_id": str(r["id"]),
            "name": r["name"],
            "status": r["status"] or "free",
            "slot_id": str(r["slot_id"]) if r["slot_id"] else None,
            "at": r["updated_at"].isoformat() if r["updated_at"] else None,
        }
        for r in rows
    ]


@dataclass(frozen=True)
class Booking:
    hold_id: UUID
    user_id: UUID
    status: str
    slot_id: UUID
    court_id: UUID | None
    starts_at: datetime
    local_date: date


async def booking(conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID) -> Booking | None:
    row = await conn.fetchrow(
        """
        SELECT h.id, h.user_id, h.status, h.slot_id, s.starts_at, s.local_date,
               CASE WHEN r.kind = 'court' THEN r.id END AS court_id
        FROM holds h JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
        JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
        WHERE h.tenant_id = $1 AND h.id = $2
        """,
        tenant_id,
        hold_id,
    )
    if row is None:
        return None
    return Booking(
        hold_id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        slot_id=row["slot_id"],
        court_id=row["court_id"],
        starts_at=row["starts_at"],
        local_date=row["local_date"],
    )


_MATCH = """
    SELECT m.*, h.slot_id, s.starts_at, s.ends_at, s.resource_id, r.name AS court_name
    FROM open_matches m JOIN holds h ON h.id = m.hold_id
    JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
    JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
"""


def _match(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "match_id": str(row["id"]),
        "booking_id": str(row["hold_id"]),
        "court_id": str(row["resource_id"]),
        "court_name": row["court_name"],
        "slot_id": str(row["slot_id"]),
        "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "date": row["local_date"].isoformat(),
        "spots": row["spots"],
        "joined": row["joined"],
        "spots_left": row["spots"] - row["joined"],
        "level": row["level"],
        "share_paise": row["share_paise"],
        "opened_by": str(row["opened_by"]),
    }


async def open_match(
    conn: asyncpg.Connection,
    *,
    match_id: UUID,
    tenant_id: UUID,
    hold_id: UUID,
    opened_by: UUID,
    spots: int,
    level: str | None,
    share_paise: int | None,
    local_date: date,
) -> tuple[dict[str, Any], bool]:
    """The booking's open match, made now (True) or as it already was (False)."""
    made = await conn.fetchval(
        """
        INSERT INTO open_matches (id, tenant_id, hold_id, opened_by, spots, level, share_paise,
                                  local_date)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hold_id) DO NOTHING RETURNING true
        """,
        match_id,
        tenant_id,
        hold_id,
        opened_by,
        spots,
        level,
        share_paise,
        local_date,
    )
    row = await conn.fetchrow(
        _MATCH + "WHERE m.tenant_id = $1 AND m.hold_id = $2", tenant_id, hold_id
    )
    assert row is not None
    return _match(row), bool(made)


async def get_match(
    conn: asyncpg.Connection, *, tenant_id: UUID, match_id: UUID, for_update: bool = False
) -> dict[str, Any] | None:
    if for_update:
        # Lock the match row only (the joins are read, not locked): joins queue here.
        await conn.execute(
            "SELECT 1 FROM open_matches WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            match_id,
        )
    row = await conn.fetchrow(_MATCH + "WHERE m.tenant_id = $1 AND m.id = $2", tenant_id, match_id)
    return _match(row) if row is not None else None


async def matches_on(
    conn: asyncpg.Connection, *, tenant_id: UUID, day: date
) -> list[dict[str, Any]]:
    """Open matches of a day whose booking stands and whose slot has not started."""
    rows = await conn.fetch(
        _MATCH + "WHERE m.tenant_id = $1 AND m.local_date = $2 AND h.status = 'confirmed' "
        "AND s.starts_at > now() ORDER BY s.starts_at, r.name",
        tenant_id,
        day,
    )
    return [_match(r) for r in rows]


async def players(conn: asyncpg.Connection, *, tenant_id: UUID, match_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT user_id FROM open_match_players WHERE tenant_id = $1 AND match_id = $2 "
        "ORDER BY joined_at",
        tenant_id,
        match_id,
    )
    return [r["user_id"] for r in rows]


async def join(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    match_id: UUID,
    hold_id: UUID,
    user_id: UUID,
    idempotency_key: str,
) -> None:
    """Add a player (the caller holds the match's row lock and checked there is a spot)."""
    await conn.execute(
        "INSERT INTO open_match_players (match_id, tenant_id, user_id, idempotency_key) "
        "VALUES ($1, $2, $3, $4)",
        match_id,
        tenant_id,
        user_id,
        idempotency_key,
    )
    await conn.execute(
        "UPDATE open_matches SET joined = joined + 1 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        match_id,
    )
    await conn.execute(
        "INSERT INTO booking_members (hold_id, tenant_id, user_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        hold_id,
        tenant_id,
        user_id,
    )


async def is_member(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID, user_id: UUID
) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM booking_members WHERE tenant_id = $1 AND hold_id = $2 "
        "AND user_id = $3)",
        tenant_id,
        hold_id,
        user_id,
    )
    return found
