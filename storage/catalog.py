"""SQL of the catalog: resources, slot generation and listing, booking rules of a slot.

Every function takes the connection and ``tenant_id`` explicitly; callers run them inside
:func:`storage.tenancy.tenant_scope`. Slot counters (``held_qty``, ``confirmed_qty``,
``capacity`` of an existing slot, ``version``) belong to the inventory actors and are never
written here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from protocols.errors import Conflict
from protocols.schedule import PlannedSlot

# Advisory-lock class of "catalog changes of one tenant" (the tenant id's hash is the key):
# tenant-scoped roles may not lock the tenants row itself.
_CATALOG_LOCK_CLASS = 0x5E7A_0003

_RESOURCE_COLUMNS = (
    "id, tenant_id, kind, name, price_paise, capacity, duration_mins, description, images, "
    "languages, status, booking_fields, cancellation_policy, version, created_at, updated_at"
)
_JSON_COLUMNS = ("booking_fields", "cancellation_policy")


def _resource(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS:
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    out["resource_id"] = out.pop("id")
    return out


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


async def lock_catalog(conn: asyncpg.Connection, *, tenant_id: UUID) -> None:
    """Serialize plan-limited catalog changes of one tenant until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _CATALOG_LOCK_CLASS, str(tenant_id)
    )


async def count_active_resources(conn: asyncpg.Connection, *, tenant_id: UUID) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM resources WHERE tenant_id = $1 AND status = 'active'", tenant_id
    )


async def insert_resource(
    conn: asyncpg.Connection, *, tenant_id: UUID, kind: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """``fields``: the JSON-mode dump of :class:`protocols.catalog.ResourceFields`."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO resources (tenant_id, kind, name, price_paise, capacity, duration_mins,
                               description, images, languages, booking_fields,
                               cancellation_policy)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb)
        RETURNING {_RESOURCE_COLUMNS}
        """,
        tenant_id,
        kind,
        *_field_values(fields),
    )
    assert row is not None
    return _resource(row)


def _field_values(fields: dict[str, Any]) -> list[Any]:
    return [
        fields["name"],
        fields["price_paise"],
        fields["capacity"],
        fields["duration_mins"],
        fields["description"],
        fields["images"],
        fields["languages"],
        _json(fields["booking_fields"]),
        json.dumps(fields["cancellation_policy"]),
    ]


async def list_resources(
    conn: asyncpg.Connection, *, tenant_id: UUID, include_archived: bool
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_RESOURCE_COLUMNS} FROM resources "
        "WHERE tenant_id = $1 AND ($2 OR status = 'active') ORDER BY created_at, id",
        tenant_id,
        include_archived,
    )
    return [_resource(r) for r in rows]


async def get_resource(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID, for_update: bool = False
) -> dict[str, Any] | None:
    """The resource, or None; ``for_update`` locks it until the transaction ends."""
    query = f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE tenant_id = $1 AND id = $2"
    row = await conn.fetchrow(query + (" FOR UPDATE" if for_update else ""), tenant_id, resource_id)
    return _resource(row) if row else None


async def update_resource(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    resource_id: UUID,
    fields: dict[str, Any],
    status: str,
    version: int,
) -> dict[str, Any]:
    """Write every editable column if the resource still has ``version`` (else Conflict)."""
    row = await conn.fetchrow(
        f"""
        UPDATE resources SET name = $4, price_paise = $5, capacity = $6, duration_mins = $7,
            description = $8, images = $9, languages = $10, booking_fields = $11::jsonb,
            cancellation_policy = $12::jsonb, status = $13, version = version + 1,
            updated_at = now()
        WHERE tenant_id = $1 AND id = $2 AND version = $3
        RETURNING {_RESOURCE_COLUMNS}
        """,
        tenant_id,
        resource_id,
        version,
        *_field_values(fields),
        status,
    )
    if row is None:
        raise Conflict("the resource changed meanwhile; read it again", {"reason": "version"})
    return _resource(row)


async def delete_resource_unless_referenced(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID
) -> bool:
    """Delete the resource with its slots and staff assignments, unless a row still refers to
    them (a hold on one of its slots, ...); then nothing is deleted and the answer is False.

    Must run inside a transaction; uses a savepoint, so the caller's transaction stays usable.
    """
    try:
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM staff_assignments WHERE tenant_id = $1 AND resource_id = $2",
                tenant_id,
                resource_id,
            )
            await conn.execute(
                "DELETE FROM slots WHERE tenant_id = $1 AND resource_id = $2",
                tenant_id,
                resource_id,
            )
            await conn.execute(
                "DELETE FROM resources WHERE tenant_id = $1 AND id = $2", tenant_id, resource_id
            )
    except asyncpg.ForeignKeyViolationError:
        return False
    return True


async def archive_resource(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""
        UPDATE resources SET status = 'archived',
            version = version + CASE WHEN status = 'archived' THEN 0 ELSE 1 END,
            updated_at = CASE WHEN status = 'archived' THEN updated_at ELSE now() END
        WHERE tenant_id = $1 AND id = $2
        RETURNING {_RESOURCE_COLUMNS}
        """,
        tenant_id,
        resource_id,
    )
    return _resource(row) if row else None


async def tenant_timezone(conn: asyncpg.Connection, *, tenant_id: UUID) -> str | None:
    return await conn.fetchval("SELECT timezone FROM tenants WHERE id = $1", tenant_id)


async def insert_slots(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    resource_id: UUID,
    slots: Sequence[PlannedSlot],
) -> int:
    """Insert the slots that do not exist yet (same resource and start); return how many."""
    return await conn.fetchval(
        """
        WITH inserted AS (
            INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, capacity,
                               price_paise)
            SELECT $1, $2, s.starts_at, s.ends_at, s.local_date, s.capacity, s.price_paise
            FROM unnest($3::timestamptz[], $4::timestamptz[], $5::date[], $6::int[],
                        $7::bigint[]) AS s(starts_at, ends_at, local_date, capacity, price_paise)
            ON CONFLICT (resource_id, starts_at) DO NOTHING
            RETURNING 1
        ) SELECT count(*) FROM inserted
        """,
        tenant_id,
        resource_id,
        [s.starts_at for s in slots],
        [s.ends_at for s in slots],
        [s.local_date for s in slots],
        [s.capacity for s in slots],
        [s.price_paise for s in slots],
    )


_SLOT_COLUMNS = (
    "id AS slot_id, resource_id, starts_at, ends_at, local_date, capacity, price_paise, "
    "held_qty AS held, confirmed_qty AS confirmed, capacity - held_qty - confirmed_qty AS available"
)


async def list_slots(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    resource_id: UUID,
    date_from: date,
    date_to: date,
    limit: int,
) -> list[dict[str, Any]]:
    """Slots with ``date_from <= local_date <= date_to`` in start order, at most ``limit``."""
    rows = await conn.fetch(
        f"""
        SELECT {_SLOT_COLUMNS} FROM slots
        WHERE tenant_id = $1 AND resource_id = $2 AND local_date BETWEEN $3 AND $4
        ORDER BY starts_at LIMIT $5
        """,
        tenant_id,
        resource_id,
        date_from,
        date_to,
        limit,
    )
    return [dict(r) for r in rows]


async def get_slot(
    conn: asyncpg.Connection, *, tenant_id: UUID, slot_id: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_SLOT_COLUMNS} FROM slots WHERE tenant_id = $1 AND id = $2", tenant_id, slot_id
    )
    return dict(row) if row else None


async def booking_rules_of_slot(
    conn: asyncpg.Connection, *, tenant_id: UUID, slot_id: UUID
) -> tuple[str, dict[str, Any] | None] | None:
    """The kind and ``booking_fields`` of the slot's resource, or None for an unknown slot."""
    row = await conn.fetchrow(
        """
        SELECT r.kind, r.booking_fields
        FROM slots s JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
        WHERE s.tenant_id = $1 AND s.id = $2
        """,
        tenant_id,
        slot_id,
    )
    if row is None:
        return None
    fields = row["booking_fields"]
    return row["kind"], json.loads(fields) if isinstance(fields, str) else fields
