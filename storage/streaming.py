"""Streaming sessions (live darshan/aarti of a resource, or one booked puja) and their viewers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class StreamSession:
    id: UUID
    tenant_id: UUID
    booking_id: UUID | None
    resource_id: UUID | None
    url: str
    kind: str
    state: str
    started_by: UUID
    started_at: datetime
    ended_at: datetime | None
    peak_viewers: int

    def wire(self) -> dict[str, Any]:
        duration = (self.ended_at - self.started_at).total_seconds() if self.ended_at else None
        return {
            "stream_id": str(self.id),
            "state": self.state,
            "url": self.url,
            "kind": self.kind,
            "booking_id": str(self.booking_id) if self.booking_id else None,
            "resource_id": str(self.resource_id) if self.resource_id else None,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_secs": duration,
            "peak_viewers": self.peak_viewers,
        }


async def start(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    booking_id: UUID | None,
    resource_id: UUID | None,
    url: str,
    kind: str,
    started_by: UUID,
) -> tuple[StreamSession, bool]:
    """Start a live session, or return the one already live for that booking/resource
    (False: nothing new was started, e.g. a retried ``stream:start``)."""
    row = await conn.fetchrow(
        """
        INSERT INTO streaming_sessions (id, tenant_id, booking_id, resource_id, url, kind,
                                        state, started_by)
        VALUES ($1, $2, $3, $4, $5, $6, 'live', $7)
        ON CONFLICT DO NOTHING RETURNING *
        """,
        uuid.uuid4(),
        tenant_id,
        booking_id,
        resource_id,
        url,
        kind,
        started_by,
    )
    if row is not None:
        return _session(row), True
    existing = await conn.fetchrow(
        "SELECT * FROM streaming_sessions WHERE tenant_id = $1 AND state = 'live' "
        "AND (booking_id = $2 OR resource_id = $3)",
        tenant_id,
        booking_id,
        resource_id,
    )
    if existing is None:  # ended between the two statements: try once more
        return await start(
            conn,
            tenant_id=tenant_id,
            booking_id=booking_id,
            resource_id=resource_id,
            url=url,
            kind=kind,
            started_by=started_by,
        )
    return _session(existing), False


async def get(conn: asyncpg.Connection, *, stream_id: UUID) -> StreamSession | None:
    row = await conn.fetchrow("SELECT * FROM streaming_sessions WHERE id = $1", stream_id)
    return _session(row) if row else None


async def stop(conn: asyncpg.Connection, *, stream_id: UUID) -> tuple[StreamSession, bool]:
    """End a live session; False if it had already ended (the stored one is returned)."""
    row = await conn.fetchrow(
        "UPDATE streaming_sessions SET state = 'ended', ended_at = now() "
        "WHERE id = $1 AND state = 'live' RETURNING *",
        stream_id,
    )
    if row is not None:
        return _session(row), True
    row = await conn.fetchrow("SELECT * FROM streaming_sessions WHERE id = $1", stream_id)
    return _session(row), False


async def report_viewers(
    conn: asyncpg.Connection, *, hub_id: UUID, counts: dict[UUID, int], fresh_secs: float
) -> dict[UUID, int]:
    """Record this hub's viewers per stream and return each stream's total over hubs heard
    from within ``fresh_secs`` (a killed hub stops counting); raises each peak to its total."""
    if not counts:
        return {}
    ids = list(counts)
    await conn.execute(
        """
        INSERT INTO stream_viewer_counts (stream_id, hub_id, viewers)
        SELECT unnest($1::uuid[]), $2, unnest($3::int[])
        ON CONFLICT (stream_id, hub_id)
        DO UPDATE SET viewers = excluded.viewers, updated_at = now()
        """,
        ids,
        hub_id,
        [counts[i] for i in ids],
    )
    rows = await conn.fetch(
        """
        SELECT stream_id, sum(viewers)::int AS total FROM stream_viewer_counts
        WHERE stream_id = ANY($1::uuid[]) AND updated_at > now() - make_interval(secs => $2)
        GROUP BY stream_id
        """,
        ids,
        fresh_secs,
    )
    totals = {r["stream_id"]: r["total"] for r in rows}
    await conn.execute(
        """
        UPDATE streaming_sessions s SET peak_viewers = t.total
        FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::int[]) AS total) t
        WHERE s.id = t.id AND s.peak_viewers < t.total
        """,
        list(totals),
        list(totals.values()),
    )
    return totals


def _session(row: asyncpg.Record) -> StreamSession:
    return StreamSession(
        id=row["id"],
        tenant_id=row["tenant_id"],
        booking_id=row["booking_id"],
        resource_id=row["resource_id"],
        url=row["url"],
        kind=row["kind"],
        state=row["state"],
        started_by=row["started_by"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        peak_viewers=row["peak_viewers"],
    )


async def tenant_of_resource(conn: asyncpg.Connection, *, resource_id: UUID) -> UUID | None:
    return await conn.fetchval("SELECT tenant_id FROM resources WHERE id = $1", resource_id)
