"""Staff members of a tenant and the resources they are assigned to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from protocols.errors import NotFound


async def list_staff(conn: asyncpg.Connection, *, tenant_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT u.id AS user_id, u.email, u.phone, u.name, u.role,
               coalesce(array_agg(a.resource_id) FILTER (WHERE a.resource_id IS NOT NULL),
                        '{}') AS resource_ids
        FROM users u LEFT JOIN staff_assignments a
             ON a.user_id = u.id AND a.tenant_id = u.tenant_id
        WHERE u.tenant_id = $1 AND u.role IN ('staff', 'tenant_admin')
        GROUP BY u.id ORDER BY u.created_at, u.id
        """,
        tenant_id,
    )
    return [dict(r) for r in rows]


async def assignments(conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT resource_id FROM staff_assignments WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY resource_id",
        tenant_id,
        user_id,
    )
    return [r["resource_id"] for r in rows]


async def set_assignments(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID, resource_ids: Sequence[UUID]
) -> None:
    """Replace the staff member's assignments. NotFound for a user who is not staff of this
    tenant or a resource of another tenant."""
    is_staff = await conn.fetchval(
        "SELECT 1 FROM users WHERE id = $1 AND tenant_id = $2 AND role IN ('staff', "
        "'tenant_admin')",
        user_id,
        tenant_id,
    )
    if is_staff is None:
        raise NotFound("no such staff member", {"user_id": str(user_id)})
    wanted = sorted(set(resource_ids))
    known = await conn.fetchval(
        "SELECT count(*) FROM resources WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
        tenant_id,
        wanted,
    )
    if known != len(wanted):
        raise NotFound("unknown resource in the list")
    await conn.execute(
        "DELETE FROM staff_assignments WHERE tenant_id = $1 AND user_id = $2", tenant_id, user_id
    )
    await conn.execute(
        "INSERT INTO staff_assignments (tenant_id, user_id, resource_id) "
        "SELECT $1, $2, unnest($3::uuid[])",
        tenant_id,
        user_id,
        wanted,
    )
