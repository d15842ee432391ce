"""Control messages between hub processes, sent with NOTIFY inside the deciding transaction
(so they go out only if it commits): sessions revoked, tenants suspended or reactivated."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

CONTROL_CHANNEL = "seva_control"


async def announce(conn: asyncpg.Connection, message: dict[str, Any]) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CONTROL_CHANNEL, json.dumps(message))


async def tenant_status(conn: asyncpg.Connection, *, tenant_id: UUID) -> str | None:
    return await conn.fetchval("SELECT status FROM tenants WHERE id = $1", tenant_id)


async def recently_revoked_families(
    conn: asyncpg.Connection, *, within_secs: int
) -> list[tuple[UUID, UUID]]:
    """(family_id, user_id) of families revoked recently enough that access tokens minted from
    them may still be unexpired."""
    rows = await conn.fetch(
        "SELECT DISTINCT family_id, user_id FROM refresh_tokens "
        "WHERE revoked_at > now() - make_interval(secs => $1)",
        within_secs,
    )
    return [(r["family_id"], r["user_id"]) for r in rows]
