"""The panchang cache (``panchang_days``) and tenants' festival calendars (``festivals``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class DayKey:
    """One cached day: the local date at a place rounded to 0.01 degree (in hundredths), in a
    timezone, by one version of the algorithm."""

    day: date
    lat_centi: int
    lon_centi: int
    timezone: str
    algorithm: int


async def cached_day(conn: asyncpg.Connection, key: DayKey) -> dict[str, Any] | None:
    raw = await conn.fetchval(
        "SELECT data FROM panchang_days WHERE day = $1 AND lat_centi = $2 AND lon_centi = $3 "
        "AND timezone = $4 AND algorithm = $5",
        key.day,
        key.lat_centi,
        key.lon_centi,
        key.timezone,
        key.algorithm,
    )
    return json.loads(raw) if raw is not None else None


async def store_day(conn: asyncpg.Connection, key: DayKey, data: dict[str, Any]) -> None:
    """Keep a computed day; a row already there (another hub computed it too) is left as is."""
    await conn.execute(
        "INSERT INTO panchang_days (day, lat_centi, lon_centi, timezone, algorithm, data) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING",
        key.day,
        key.lat_centi,
        key.lon_centi,
        key.timezone,
        key.algorithm,
        json.dumps(data),
    )


@dataclass(frozen=True)
class Festival:
    id: UUID
    tenant_id: UUID
    name: str
    day: date
    description: str | None
    tithi_rule: dict[str, Any] | None
    idempotency_key: str
    created_by: UUID | None
    created_at: datetime

    def to_wire(self) -> dict[str, Any]:
        return {
            "festival_id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "name": self.name,
            "date": self.day.isoformat(),
            "description": self.description,
            "tithi_rule": self.tithi_rule,
            "created_at": self.created_at.isoformat(),
        }


_COLUMNS = (
    "id, tenant_id, name, day, description, tithi_rule, idempotency_key, created_by, created_at"
)


def _festival(row: asyncpg.Record) -> Festival:
    rule = row["tithi_rule"]
    return Festival(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        day=row["day"],
        description=row["description"],
        tithi_rule=json.loads(rule) if rule is not None else None,
        idempotency_key=row["idempotency_key"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


async def insert_festival(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    name: str,
    day: date,
    description: str | None,
    tithi_rule: dict[str, Any] | None,
    idempotency_key: str,
    created_by: UUID | None,
) -> tuple[Festival, bool]:
    """Insert, or return the row already made with this key; (festival, made now)."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO festivals (id, tenant_id, name, day, description, tithi_rule,
                               idempotency_key, created_by)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        uuid.uuid4(),
        tenant_id,
        name,
        day,
        description,
        json.dumps(tithi_rule) if tithi_rule is not None else None,
        idempotency_key,
        created_by,
    )
    if row is not None:
        return _festival(row), True
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM festivals WHERE tenant_id = $1 AND idempotency_key = $2",
        tenant_id,
        idempotency_key,
    )
    assert row is not None  # the conflicting row exists and is never deleted
    return _festival(row), False


async def festivals_between(
    conn: asyncpg.Connection, *, tenant_id: UUID, first: date, last: date
) -> list[Festival]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM festivals WHERE tenant_id = $1 AND day BETWEEN $2 AND $3 "
        "ORDER BY day, created_at, id",
        tenant_id,
        first,
        last,
    )
    return [_festival(r) for r in rows]
