"""Read-only queries behind the hub's scrape-time metrics (``hub/metrics.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Backlog:
    """Rows of one outbox not yet handed on, and the age of the oldest (0 when none)."""

    name: str
    pending: int
    oldest_age_secs: float


async def outbox_backlogs(conn: asyncpg.Connection) -> list[Backlog]:
    """``outbox_events`` not dispatched, ``feed_events`` not published, and deliveries due
    (``queued``/``failed`` past their next attempt) per channel as ``deliveries:<channel>``.
    Each uses its partial index or a small scan of pending rows only."""
    rows = await conn.fetch(
        """
        SELECT 'outbox_events' AS name, count(*) AS pending,
               coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age
        FROM outbox_events WHERE dispatched_at IS NULL
        UNION ALL
        SELECT 'feed_events', count(*),
               coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
        FROM feed_events WHERE published_at IS NULL
        UNION ALL
        SELECT 'deliveries:' || channel, count(*),
               coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)::float8
        FROM deliveries
        WHERE status IN ('queued', 'failed') AND next_attempt_at <= now()
        GROUP BY channel
        """
    )
    return [Backlog(r["name"], int(r["pending"]), max(float(r["age"]), 0.0)) for r in rows]
