"""Failed-login counting in PostgreSQL, so the limit holds across hub processes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg


async def retry_after(
    conn: asyncpg.Connection, *, keys: Sequence[str], max_failures: int, window: timedelta
) -> float | None:
    """Seconds until another attempt is allowed, or None if none of ``keys`` is locked."""
    rows = await conn.fetch(
        """
        SELECT key, count(*) AS n,
               (array_agg(at ORDER BY at DESC))[$3] AS nth_newest
        FROM login_failures
        WHERE key = ANY($1::text[]) AND at > now() - $2::interval
        GROUP BY key
        """,
        list(keys),
        window,
        max_failures,
    )
    now = datetime.now(UTC)
    waits = [
        (r["nth_newest"] + window - now).total_seconds()
        for r in rows
        if r["n"] >= max_failures and r["nth_newest"] is not None
    ]
    return max(max(waits), 1.0) if waits else None


async def record_failure(
    conn: asyncpg.Connection, *, keys: Sequence[str], window: timedelta
) -> None:
    await conn.execute("INSERT INTO login_failures (key) SELECT unnest($1::text[])", list(keys))
    # Keep the table small: what is older than the window no longer counts.
    await conn.execute(
        "DELETE FROM login_failures WHERE key = ANY($1::text[]) AND at <= now() - $2::interval",
        list(keys),
        window,
    )


async def clear_failures(conn: asyncpg.Connection, *, key: str) -> None:
    await conn.execute("DELETE FROM login_failures WHERE key = $1", key)
