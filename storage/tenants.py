"""Tenants as the platform operators manage them: create, list, suspend, reactivate, plan."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from protocols.errors import Conflict
from storage import control

_COLUMNS = "id, slug, name, kind, timezone, status, plan, settings, created_at"


def _tenant(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for key in ("plan", "settings"):
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    out["tenant_id"] = out.pop("id")
    return out


async def create_tenant(
    conn: asyncpg.Connection,
    *,
    slug: str,
    name: str,
    kind: str,
    timezone: str,
    plan: dict[str, int],
    settings: dict[str, Any],
) -> dict[str, Any]:
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO tenants (slug, name, kind, timezone, plan, settings)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb) RETURNING {_COLUMNS}
            """,
            slug,
            name,
            kind,
            timezone,
            json.dumps(plan),
            json.dumps(settings),
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("a tenant with this slug exists", {"field": "slug"}) from exc
    assert row is not None
    return _tenant(row)


async def get_tenant(conn: asyncpg.Connection, *, tenant_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM tenants WHERE id = $1", tenant_id)
    return _tenant(row) if row else None


async def list_tenants(
    conn: asyncpg.Connection, *, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM tenants WHERE ($1::text IS NULL OR status = $1) "
        "ORDER BY created_at, id LIMIT $2 OFFSET $3",
        status,
        limit,
        offset,
    )
    return [_tenant(r) for r in rows]


async def set_status(
    conn: asyncpg.Connection, *, tenant_id: UUID, status: str
) -> dict[str, Any] | None:
    """Change the status and tell every hub (suspended tenants' sockets are dropped)."""
    row = await conn.fetchrow(
        f"UPDATE tenants SET status = $2 WHERE id = $1 RETURNING {_COLUMNS}", tenant_id, status
    )
    if row is None:
        return None
    await control.announce(
        conn, {"kind": "tenant_status", "tenant_id": str(tenant_id), "status": status}
    )
    return _tenant(row)


async def set_plan(
    conn: asyncpg.Connection, *, tenant_id: UUID, plan: dict[str, int]
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"UPDATE tenants SET plan = $2::jsonb WHERE id = $1 RETURNING {_COLUMNS}",
        tenant_id,
        json.dumps(plan),
    )
    return _tenant(row) if row else None


async def plan_limit(conn: asyncpg.Connection, *, tenant_id: UUID, limit: str) -> int | None:
    value = await conn.fetchval("SELECT plan ->> $2 FROM tenants WHERE id = $1", tenant_id, limit)
    return int(value) if value is not None else None


async def payment_routing(conn: asyncpg.Connection, *, tenant_id: UUID) -> dict[str, Any]:
    """The tenant's routing override (``{}``: cheapest first)."""
    value = await conn.fetchval(
        "SELECT settings -> 'payment_routing' FROM tenants WHERE id = $1", tenant_id
    )
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


async def set_payment_routing(
    conn: asyncpg.Connection, *, tenant_id: UUID, routing: dict[str, Any]
) -> bool:
    done = await conn.execute(
        "UPDATE tenants SET settings = jsonb_set(settings, '{payment_routing}', $2::jsonb) "
        "WHERE id = $1",
        tenant_id,
        json.dumps(routing),
    )
    return done == "UPDATE 1"
