"""Read side of availability: snapshots of a stream, its event log, and routing lookups."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from protocols.availability import stream_name


@dataclass(frozen=True)
class SlotRow:
    slot_id: UUID
    starts_at: datetime
    ends_at: datetime
    capacity: int
    available: int
    price_paise: int


@dataclass(frozen=True)
class StreamSnapshot:
    stream: str
    seq: int
    slots: list[SlotRow]


async def read_snapshot(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID, day: date
) -> StreamSnapshot | None:
    """Slots and last seq of one stream; None if the tenant has no such resource.

    Run it in a REPEATABLE READ transaction so slots and seq come from one snapshot. (Even in
    READ COMMITTED it stays safe: seq is read before the slots, and deltas carry absolute
    ``available`` values, so a change landing in between is at worst applied twice.)
    """
    stream = stream_name(tenant_id, resource_id, day)
    async with conn.transaction(readonly=True):
        exists = await conn.fetchval(
            "SELECT 1 FROM resources WHERE tenant_id = $1 AND id = $2", tenant_id, resource_id
        )
        if exists is None:
            return None
        seq = await conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM availability_events WHERE stream = $1", stream
        )
        rows = await conn.fetch(
            """
            SELECT id, starts_at, ends_at, capacity, price_paise,
                   capacity - held_qty - confirmed_qty AS available
            FROM slots WHERE tenant_id = $1 AND resource_id = $2 AND local_date = $3
            ORDER BY starts_at
            """,
            tenant_id,
            resource_id,
            day,
        )
    slots = [
        SlotRow(
            slot_id=r["id"],
            starts_at=r["starts_at"],
            ends_at=r["ends_at"],
            capacity=r["capacity"],
            available=r["available"],
            price_paise=r["price_paise"],
        )
        for r in rows
    ]
    return StreamSnapshot(stream=stream, seq=seq, slots=slots)


async def read_events(
    conn: asyncpg.Connection, *, stream: str, after_seq: int, upto_seq: int
) -> list[dict[str, Any]] | None:
    """Payloads with ``after_seq < seq <= upto_seq`` in order, or None if any is no longer kept."""
    rows = await conn.fetch(
        "SELECT seq, payload FROM availability_events "
        "WHERE stream = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        stream,
        after_seq,
        upto_seq,
    )
    if len(rows) != upto_seq - after_seq:
        return None
    return [json.loads(r["payload"]) for r in rows]


async def last_seq(conn: asyncpg.Connection, *, stream: str) -> int:
    return await conn.fetchval(
        "SELECT coalesce(max(seq), 0) FROM availability_events WHERE stream = $1", stream
    )


async def tenant_of_slot(conn: asyncpg.Connection, *, slot_id: UUID) -> UUID | None:
    return await conn.fetchval("SELECT tenant_id FROM slots WHERE id = $1", slot_id)


async def tenant_of_hold(conn: asyncpg.Connection, *, hold_id: UUID) -> UUID | None:
    return await conn.fetchval("SELECT tenant_id FROM holds WHERE id = $1", hold_id)


async def prune_events(conn: asyncpg.Connection, *, older_than_secs: float) -> int:
    """Forget events older than the retention, except each stream's last (which carries the
    stream's current seq). A ``since`` before what is left gets a reset, not a replay."""
    status = await conn.execute(
        """
        DELETE FROM availability_events e
        WHERE e.created_at < now() - make_interval(secs => $1)
          AND e.seq < (SELECT max(m.seq) FROM availability_events m WHERE m.stream = e.stream)
        """,
        older_than_secs,
    )
    return int(status.split()[-1])
