"""Signed gateway events as received, deduplicated by the gateway's event id."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class InboxEvent:
    inbox_id: int
    gateway: str
    tenant_id: UUID
    event_id: str
    event_type: str
    gateway_order_id: str | None


async def store(
    conn: asyncpg.Connection,
    *,
    gateway: str,
    tenant_id: UUID,
    event_id: str,
    event_type: str,
    gateway_order_id: str | None,
    raw_body: bytes,
    headers: str,
) -> bool:
    """True if this event is new; a duplicate delivery is not stored again."""
    inserted = await conn.fetchval(
        """
        INSERT INTO webhook_inbox (gateway, tenant_id, event_id, event_type, gateway_order_id,
                                   raw_body, headers)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
        ON CONFLICT (gateway, event_id) DO NOTHING RETURNING id
        """,
        gateway,
        tenant_id,
        event_id[:200],
        event_type[:100],
        gateway_order_id,
        raw_body,
        headers,
    )
    return inserted is not None


async def claim_one(conn: asyncpg.Connection) -> InboxEvent | None:
    """The next due unprocessed event, locked for the caller's transaction (other hubs skip
    it). Events waiting for a retry do not block the ones behind them."""
    r = await conn.fetchrow(
        """
        SELECT id, gateway, tenant_id, event_id, event_type, gateway_order_id FROM webhook_inbox
        WHERE processed_at IS NULL AND next_attempt_at <= now()
        ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
        """
    )
    if r is None:
        return None
    return InboxEvent(
        r["id"],
        r["gateway"],
        r["tenant_id"],
        r["event_id"],
        r["event_type"],
        r["gateway_order_id"],
    )


async def retry_later(conn: asyncpg.Connection, *, inbox_id: int, error: str) -> None:
    """Back off: 1 s, 2 s, 4 s ... up to 5 minutes between tries."""
    await conn.execute(
        """
        UPDATE webhook_inbox SET attempts = attempts + 1, outcome = $2,
               next_attempt_at = now() + make_interval(secs => least(300, 2 ^ attempts))
        WHERE id = $1
        """,
        inbox_id,
        error[:200],
    )


async def mark_processed(conn: asyncpg.Connection, *, inbox_id: int, outcome: str) -> None:
    await conn.execute(
        "UPDATE webhook_inbox SET processed_at = now(), outcome = $2 WHERE id = $1",
        inbox_id,
        outcome[:200],
    )
