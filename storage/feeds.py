"""Feed streams (a user's own feed, a booking's live status): gap-free seq, outbox, retention.

``append`` runs inside the transaction of the change it announces, so the event and its seq
commit or vanish with the change. The row doubles as the outbox entry: ``published_at`` stays
NULL until the relay (``hub/feed_relay.py``) has handed it to Socket.IO; a NOTIFY on
:data:`FEED_CHANNEL` wakes the relay after commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

FEED_CHANNEL = "seva_feed"


def user_stream(user_id: UUID) -> str:
    return f"user:{user_id}"


def booking_stream(booking_id: UUID) -> str:
    return f"booking:{booking_id}"


@dataclass(frozen=True)
class FeedEvent:
    id: int
    stream: str
    seq: int
    room: str
    event: str
    payload: dict[str, Any]
    created_at: datetime


async def append(
    conn: asyncpg.Connection,
    *,
    stream: str,
    tenant_id: UUID | None,
    room: str,
    event: str,
    payload: dict[str, Any],
) -> int:
    """Give ``payload`` the stream's next seq and queue it for publishing; returns the seq.
    Must run inside the change's transaction."""
    seq = await next_seq(conn, stream=stream, tenant_id=tenant_id)
    await record(
        conn, stream=stream, seq=seq, tenant_id=tenant_id, room=room, event=event, payload=payload
    )
    return seq


async def next_seq(conn: asyncpg.Connection, *, stream: str, tenant_id: UUID | None) -> int:
    """Take the stream's next seq. The head row stays locked until commit, so two writers of
    one stream are serialized and seq stays gap-free; a rollback gives the seq back."""
    seq: int = await conn.fetchval(
        """
        INSERT INTO feed_heads AS h (stream, tenant_id, seq) VALUES ($1, $2, 1)
        ON CONFLICT (stream) DO UPDATE SET seq = h.seq + 1
        RETURNING seq
        """,
        stream,
        tenant_id,
    )
    return seq


async def record(
    conn: asyncpg.Connection,
    *,
    stream: str,
    seq: int,
    tenant_id: UUID | None,
    room: str,
    event: str,
    payload: dict[str, Any],
) -> None:
    """Store the event taken with :func:`next_seq` and wake the relay (after commit)."""
    body = {**payload, "stream": stream, "seq": seq}
    await conn.execute(
        "INSERT INTO feed_events (stream, seq, tenant_id, room, event, payload) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        stream,
        seq,
        tenant_id,
        room,
        event,
        json.dumps(body),
    )
    await conn.execute("SELECT pg_notify($1, '')", FEED_CHANNEL)


async def head(conn: asyncpg.Connection, *, stream: str) -> int:
    value = await conn.fetchval("SELECT seq FROM feed_heads WHERE stream = $1", stream)
    return int(value or 0)


async def read_since(
    conn: asyncpg.Connection, *, stream: str, after_seq: int, upto_seq: int
) -> list[FeedEvent] | None:
    """Events with ``after_seq < seq <= upto_seq`` in order, or None if any is no longer kept."""
    if after_seq > upto_seq:
        return None
    rows = await conn.fetch(
        "SELECT id, stream, seq, room, event, payload, created_at FROM feed_events "
        "WHERE stream = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        stream,
        after_seq,
        upto_seq,
    )
    if len(rows) != upto_seq - after_seq:
        return None
    return [_event(r) for r in rows]


async def claim_unpublished(conn: asyncpg.Connection, *, limit: int) -> list[FeedEvent]:
    """The oldest unpublished events, locked until the caller's transaction ends.

    Only one relay runs at a time (see ``hub/feed_relay.py``), so commit order per stream is
    publish order; SKIP LOCKED keeps a second one harmless if leadership ever overlaps.
    """
    rows = await conn.fetch(
        "SELECT id, stream, seq, room, event, payload, created_at FROM feed_events "
        "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [_event(r) for r in rows]


async def mark_published(conn: asyncpg.Connection, *, ids: list[int]) -> None:
    await conn.execute(
        "UPDATE feed_events SET published_at = now() WHERE id = ANY($1::bigint[])", ids
    )


async def prune(conn: asyncpg.Connection, *, older_than_secs: float) -> int:
    """Forget published events older than the retention; heads keep every stream's seq."""
    status = await conn.execute(
        "DELETE FROM feed_events WHERE published_at IS NOT NULL "
        "AND created_at < now() - make_interval(secs => $1)",
        older_than_secs,
    )
    return int(status.split()[-1])


def _event(row: asyncpg.Record) -> FeedEvent:
    return FeedEvent(
        id=row["id"],
        stream=row["stream"],
        seq=row["seq"],
        room=row["room"],
        event=row["event"],
        payload=json.loads(row["payload"]),
        created_at=row["created_at"],
    )
