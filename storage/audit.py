"""The append-only audit log: who did what to which entity, before and after."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class AuditContext:
    """Who is acting and from where; built by the hub per request."""

    actor_user_id: UUID | None
    actor_role: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None


async def record(
    conn: asyncpg.Connection,
    ctx: AuditContext,
    *,
    tenant_id: UUID | None,
    action: str,
    entity: str,
    entity_id: UUID | None,
    before: Any = None,
    after: Any = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO audit_log (tenant_id, actor_user_id, actor_role, action, entity, subject_id,
                               before, after, ip, user_agent, request_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11)
        """,
        tenant_id,
        ctx.actor_user_id,
        ctx.actor_role,
        action,
        entity,
        entity_id,
        json.dumps(before, default=str) if before is not None else None,
        json.dumps(after, default=str) if after is not None else None,
        ctx.ip,
        (ctx.user_agent or "")[:512] or None,
        ctx.request_id,
    )


async def list_entries(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID | None,
    action: str | None,
    actor_user_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first; ``tenant_id`` None means every tenant (platform operators only)."""
    rows = await conn.fetch(
        """
        SELECT id, tenant_id, actor_user_id, actor_role, action, entity, subject_id, data,
               before, after, ip, user_agent, request_id, at
        FROM audit_log
        WHERE ($1::uuid IS NULL OR tenant_id = $1)
          AND ($2::text IS NULL OR action = $2)
          AND ($3::uuid IS NULL OR actor_user_id = $3)
          AND ($4::timestamptz IS NULL OR at >= $4)
          AND ($5::timestamptz IS NULL OR at < $5)
          AND ($6::bigint IS NULL OR id < $6)
        ORDER BY id DESC
        LIMIT $7
        """,
        tenant_id,
        action,
        actor_user_id,
        since,
        until,
        before_id,
        limit,
    )
    out = []
    for r in rows:
        entry = dict(r)
        for key in ("data", "before", "after"):
            if isinstance(entry[key], str):
                entry[key] = json.loads(entry[key])
        out.append(entry)
    return out
