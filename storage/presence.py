"""Presence: sockets per user per hub process, and who of a set of users is online."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class Seen:
    user_id: UUID
    online: bool
    last_seen_at: datetime | None


async def report(
    conn: asyncpg.Connection,
    *,
    hub_id: UUID,
    counts: dict[UUID, tuple[UUID | None, int]],
) -> None:
    """Record this hub's sockets per user (user → (tenant, sockets)); 0 removes the row. Every
    reported user's ``last_seen_at`` becomes now."""
    if not counts:
        return
    live = [(u, t, n) for u, (t, n) in counts.items() if n > 0]
    gone = [u for u, (_t, n) in counts.items() if n == 0]
    async with conn.transaction():
        if live:
            await conn.execute(
                """
                INSERT INTO presence (user_id, hub_id, tenant_id, sockets)
                SELECT u, $2, t, n FROM unnest($1::uuid[], $3::uuid[], $4::int[]) AS x(u, t, n)
                ON CONFLICT (user_id, hub_id)
                DO UPDATE SET sockets = excluded.sockets, updated_at = now()
                """,
                [u for u, _t, _n in live],
                hub_id,
                [t for _u, t, _n in live],
                [n for _u, _t, n in live],
            )
        if gone:
            await conn.execute(
                "DELETE FROM presence WHERE hub_id = $1 AND user_id = ANY($2::uuid[])",
                hub_id,
                gone,
            )
        await conn.execute(
            "UPDATE users SET last_seen_at = now() WHERE id = ANY($1::uuid[])", list(counts)
        )


async def lookup(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_ids: list[UUID], fresh_secs: float
) -> list[Seen]:
    """Online state of the tenant's ``user_ids`` (others are left out)."""
    rows = await conn.fetch(
        """
        SELECT u.id, u.last_seen_at,
               EXISTS (SELECT 1 FROM presence p WHERE p.user_id = u.id
                       AND p.updated_at > now() - make_interval(secs => $3)) AS online
        FROM users u WHERE u.tenant_id = $1 AND u.id = ANY($2::uuid[])
        """,
        tenant_id,
        user_ids,
        fresh_secs,
    )
    return [Seen(r["id"], r["online"], r["last_seen_at"]) for r in rows]
