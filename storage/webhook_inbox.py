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


async def claim(conn: asyncpg.Connection, *, limit: int) -> list[InboxEvent]:
    """Unprocessed events, locked for this transaction (other hubs skip them)."""
    rows = await conn.fetch(
        """
        SELECT id, gateway, tenant_id, event_id, event_type, gateway_order_id FROM webhook_inbox
        WHERE processed_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
        """,
        limit,
    )
    return [
        InboxEvent(
            r["id"],
            r["gateway"],
            r["tenant_id"],
            r["event_id"],
            r["event_type"],
            r["gateway_order_id"],
        )
        for r in rows
    ]


async def mark_processed(conn: asyncpg.Connection, *, inbox_id: int, outcome: str) -> None:
    await conn.execute(
        "UPDATE webhook_inbox SET processed_at = now(), outcome = $2 WHERE id = $1",
        inbox_id,
        outcome[:200],
    )
