"""SQL of waiting lists for sold-out slots: joining, offers (recorded with their socket event
and notification in one transaction), and settling offers whose hold was paid or lapsed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from protocols.devotional import WAITLIST_OFFER_EVENT
from storage import feeds, notifications

_COLUMNS = (
    "id, tenant_id, slot_id, user_id, qty, idempotency_key, status, hold_id, offered_at, "
    "offer_expires_at, closed_at, created_at"
)


@dataclass(frozen=True)
class Entry:
    entry_id: UUID
    tenant_id: UUID
    slot_id: UUID
    user_id: UUID
    qty: int
    idempotency_key: str
    status: str
    hold_id: UUID | None
    offered_at: datetime | None
    offer_expires_at: datetime | None
    closed_at: datetime | None
    created_at: datetime

    def view(self, position: int | None = None) -> dict[str, Any]:
        return {
            "entry_id": str(self.entry_id),
            "slot_id": str(self.slot_id),
            "qty": self.qty,
            "status": self.status,
            "position": position,
            "hold_id": str(self.hold_id) if self.hold_id else None,
            "offer_expires_at": self.offer_expires_at.isoformat()
            if self.offer_expires_at
            else None,
            "created_at": self.created_at.isoformat(),
            "idempotency_key": self.idempotency_key,
        }


def _entry(row: asyncpg.Record) -> Entry:
    return Entry(*(row[c] for c in _COLUMNS.split(", ")))


async def join(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    slot_id: UUID,
    user_id: UUID,
    qty: int,
    idempotency_key: str,
) -> tuple[Entry, bool]:
    """``(entry, created)``; the key used before answers that entry."""
    row = await conn.fetchrow(
        f"INSERT INTO waitlist_entries (tenant_id, slot_id, user_id, qty, idempotency_key) "
        f"VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
        tenant_id,
        slot_id,
        user_id,
        qty,
        idempotency_key,
    )
    if row is not None:
        return _entry(row), True
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM waitlist_entries WHERE tenant_id = $1 AND user_id = $2 "
        "AND idempotency_key = $3",
        tenant_id,
        user_id,
        idempotency_key,
    )
    return _entry(row), False


async def find_by_key(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID, idempotency_key: str
) -> Entry | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM waitlist_entries WHERE tenant_id = $1 AND user_id = $2 "
        "AND idempotency_key = $3",
        tenant_id,
        user_id,
        idempotency_key,
    )
    return None if row is None else _entry(row)


async def slot_room(
    conn: asyncpg.Connection, *, tenant_id: UUID, slot_id: UUID
) -> tuple[bool, int] | None:
    """``(started, available)`` of the slot as last committed by its actor."""
    row = await conn.fetchrow(
        "SELECT starts_at <= now() AS started, capacity - held_qty - confirmed_qty AS available "
        "FROM slots WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        slot_id,
    )
    return None if row is None else (row["started"], row["available"])


async def get(conn: asyncpg.Connection, *, tenant_id: UUID, entry_id: UUID) -> Entry | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM waitlist_entries WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        entry_id,
    )
    return None if row is None else _entry(row)


async def position(conn: asyncpg.Connection, *, entry: Entry) -> int | None:
    """1 for the head of the slot's queue; None once the entry no longer waits."""
    if entry.status != "waiting":
        return None
    ahead: int = await conn.fetchval(
        "SELECT count(*) FROM waitlist_entries WHERE slot_id = $1 AND status = 'waiting' "
        "AND (created_at, id) < ($2, $3)",
        entry.slot_id,
        entry.created_at,
        entry.entry_id,
    )
    return ahead + 1


async def cancel(conn: asyncpg.Connection, *, tenant_id: UUID, entry_id: UUID) -> Entry | None:
    """A waiting entry leaves the list (an offered one keeps its hold until paid or lapsed)."""
    row = await conn.fetchrow(
        f"UPDATE waitlist_entries SET status = 'cancelled', closed_at = now() "
        f"WHERE tenant_id = $1 AND id = $2 AND status = 'waiting' RETURNING {_COLUMNS}",
        tenant_id,
        entry_id,
    )
    return None if row is None else _entry(row)


# -- the offer loop (across tenants, as the hub's own role) -------------------------------------


async def settle_offers(conn: asyncpg.Connection) -> int:
    """Offers whose hold was confirmed become ``accepted``; released or expired ones
    ``lapsed`` (their places are free again for the next waiter). Returns how many."""
    result: str = await conn.execute(
        "UPDATE waitlist_entries w SET closed_at = now(), status = CASE "
        "WHEN h.status IN ('confirmed', 'cancelled') THEN 'accepted' ELSE 'lapsed' END "
        "FROM holds h WHERE w.status = 'offered' AND h.id = w.hold_id AND h.status <> 'held'"
    )
    return int(result.split()[-1])


async def lapse_started(conn: asyncpg.Connection) -> int:
    """Waiting entries of slots that have started will never be offered anything."""
    result: str = await conn.execute(
        "UPDATE waitlist_entries w SET status = 'lapsed', closed_at = now() FROM slots s "
        "WHERE w.status = 'waiting' AND s.id = w.slot_id AND s.starts_at <= now()"
    )
    return int(result.split()[-1])


async def slots_with_room(conn: asyncpg.Connection, *, limit: int) -> list[tuple[UUID, UUID, int]]:
    """``(tenant_id, slot_id, available)`` of slots with waiters and free places."""
    rows = await conn.fetch(
        "SELECT s.tenant_id, s.id, s.capacity - s.held_qty - s.confirmed_qty AS available "
        "FROM slots s WHERE s.capacity > s.held_qty + s.confirmed_qty AND s.starts_at > now() "
        "AND EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.slot_id = s.id "
        "AND w.status = 'waiting') LIMIT $1",
        limit,
    )
    return [(r["tenant_id"], r["id"], r["available"]) for r in rows]


async def waiting_qty(conn: asyncpg.Connection, *, slot_id: UUID) -> int:
    """Places the slot's waiting entries are queued for (what its actor keeps for them)."""
    total = await conn.fetchval(
        "SELECT coalesce(sum(qty), 0) FROM waitlist_entries "
        "WHERE slot_id = $1 AND status = 'waiting'",
        slot_id,
    )
    return int(total)


async def waiting_by_slot(conn: asyncpg.Connection, *, slot_ids: list[UUID]) -> dict[UUID, int]:
    """:func:`waiting_qty` of several slots at once (those with waiters only)."""
    rows = await conn.fetch(
        "SELECT slot_id, sum(qty) AS qty FROM waitlist_entries "
        "WHERE slot_id = ANY($1::uuid[]) AND status = 'waiting' GROUP BY slot_id",
        slot_ids,
    )
    return {r["slot_id"]: int(r["qty"]) for r in rows}


async def head(conn: asyncpg.Connection, *, slot_id: UUID) -> Entry | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM waitlist_entries WHERE slot_id = $1 AND status = 'waiting' "
        "ORDER BY created_at, id LIMIT 1",
        slot_id,
    )
    return None if row is None else _entry(row)


async def close(conn: asyncpg.Connection, *, entry_id: UUID, status: str) -> None:
    await conn.execute(
        "UPDATE waitlist_entries SET status = $2, closed_at = now() "
        "WHERE id = $1 AND status = 'waiting'",
        entry_id,
        status,
    )


async def record_offer(
    conn: asyncpg.Connection, *, entry: Entry, hold_id: UUID, expires_at: datetime
) -> bool:
    """Mark the entry offered, and queue its ``waitlist:offer`` event on the devotee's feed and
    a ``waitlist_offer`` notification (high priority, expiring with the offer), in the
    caller's transaction.
    False (nothing written) if the entry no longer waits."""
    changed = await conn.fetchval(
        "UPDATE waitlist_entries SET status = 'offered', hold_id = $2, offered_at = now(), "
        "offer_expires_at = $3 WHERE id = $1 AND status = 'waiting' RETURNING id",
        entry.entry_id,
        hold_id,
        expires_at,
    )
    if changed is None:
        return False
    payload = {
        "entry_id": str(entry.entry_id),
        "slot_id": str(entry.slot_id),
        "hold_id": str(hold_id),
        "qty": entry.qty,
        "expires_at": expires_at.isoformat(),
    }
    mine = feeds.user_stream(entry.user_id)
    await feeds.append(
        conn,
        stream=mine,
        tenant_id=entry.tenant_id,
        room=mine,
        event=WAITLIST_OFFER_EVENT,
        payload=payload,
    )
    await notifications.enqueue(
        conn,
        tenant_id=entry.tenant_id,
        user_id=entry.user_id,
        kind="waitlist_offer",
        data={**payload, "booking_ref": str(hold_id)[:8].upper()},
        dedupe_key=f"waitlist_offer:{entry.entry_id}",
    )
    return True
