"""SQL of ``seva bench``: a scratch database, bench tenants, the row-lock baseline's hold, audits.

The baseline hold (:func:`hold_with_row_lock`) is what a plain REST backend does for one
request: one transaction that locks the slot row (``SELECT ... FOR UPDATE``), checks capacity,
inserts the hold and bumps the slot's counters. It writes the same ``holds`` rows and the same
``slots.held_qty``/``slots.version`` as the inventory actors, so :func:`audit_tenant` checks
both sides with one query.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit, urlunsplit
from uuid import UUID

import asyncpg

from protocols.errors import Conflict, NotFound

BENCH_PRICE_PAISE = 10_000
# The users table requires a hash; bench users never log in, so no real hash is stored.
BENCH_PASSWORD_HASH = "!bench-user-no-login"
SCRATCH_DATABASE_NAME = re.compile(r"seva_bench_[0-9a-f]{12}")


@dataclass(frozen=True)
class BenchTenant:
    tenant_id: UUID
    slot_ids: list[UUID]
    user_ids: list[UUID]


@dataclass(frozen=True)
class TenantAudit:
    """What the database holds for one bench tenant after a run."""

    hold_rows: int  # rows in ``holds`` (any status)
    oversold_slots: int  # slots with held_qty + confirmed_qty > capacity
    counter_mismatches: int  # slots whose held_qty != sum(qty) of their 'held' holds


async def create_bench_tenant(
    conn: asyncpg.Connection,
    *,
    label: str,
    slots: int,
    capacity: int,
    users: int,
    hold_ttl_secs: int,
) -> BenchTenant:
    """A fresh tenant with one resource, ``slots`` future slots and ``users`` users."""
    tag = uuid.uuid4().hex[:10]
    first_start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    starts = [first_start + timedelta(hours=i) for i in range(slots)]
    async with conn.transaction():
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name, kind, timezone, settings) "
            "VALUES ($1, $2, 'library', 'UTC', $3::jsonb) RETURNING id",
            f"bench-{label}-{tag}",
            f"Bench {label} {tag}",
            json.dumps({"hold_ttl_secs": hold_ttl_secs}),
        )
        resource_id = await conn.fetchval(
            "INSERT INTO resources (tenant_id, kind, name) VALUES ($1, 'seat', 'Bench seats') "
            "RETURNING id",
            tenant_id,
        )
        slot_rows = await conn.fetch(
            """
            INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, capacity,
                               price_paise)
            SELECT $1, $2, s, s + interval '1 hour', (s AT TIME ZONE 'UTC')::date, $4, $5
            FROM unnest($3::timestamptz[]) WITH ORDINALITY AS t(s, i)
            ORDER BY i
            RETURNING id
            """,
            tenant_id,
            resource_id,
            starts,
            capacity,
            BENCH_PRICE_PAISE,
        )
        user_rows = await conn.fetch(
            """
            INSERT INTO users (tenant_id, email, name, role, password_hash)
            SELECT $1, 'bench-' || i || '-' || $2 || '@bench.invalid', 'Bench user', 'user', $3
            FROM generate_series(1, $4) AS i
            ORDER BY i
            RETURNING id
            """,
            tenant_id,
            tag,
            BENCH_PASSWORD_HASH,
            users,
        )
    return BenchTenant(
        tenant_id=tenant_id,
        slot_ids=[r["id"] for r in slot_rows],
        user_ids=[r["id"] for r in user_rows],
    )


async def hold_with_row_lock(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    slot_id: UUID,
    user_id: UUID,
    qty: int,
    idempotency_key: str,
    ttl: timedelta,
) -> bool:
    """Hold ``qty`` places in one transaction serialised by the slot's row lock.

    True if the hold exists afterwards (made now, or earlier with the same key); False if the
    slot has fewer than ``qty`` places left. Raises NotFound for an unknown slot and Conflict
    for a slot that has started or a key used earlier for a different slot or quantity.
    """
    now = datetime.now(UTC)
    async with conn.transaction():
        slot = await conn.fetchrow(
            "SELECT starts_at, capacity, held_qty, confirmed_qty FROM slots "
            "WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            tenant_id,
            slot_id,
        )
        if slot is None:
            raise NotFound("no such slot", {"slot_id": str(slot_id)})
        if slot["starts_at"] <= now:
            raise Conflict("slot has already started", {"slot_id": str(slot_id)})
        if slot["capacity"] - slot["held_qty"] - slot["confirmed_qty"] >= qty:
            inserted = await conn.fetchval(
                """
                INSERT INTO holds (id, tenant_id, slot_id, user_id, qty, status, idempotency_key,
                                   expires_at, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, 'held', $6, $7, $8, $8)
                ON CONFLICT (tenant_id, user_id, idempotency_key) DO NOTHING
                RETURNING 1
                """,
                uuid.uuid4(),
                tenant_id,
                slot_id,
                user_id,
                qty,
                idempotency_key,
                now + ttl,
                now,
            )
            if inserted is not None:
                await conn.execute(
                    "UPDATE slots SET held_qty = held_qty + $2, version = version + 1 "
                    "WHERE id = $1",
                    slot_id,
                    qty,
                )
                return True
    # Sold out, or the key was used before: a replay must answer like the first attempt did.
    prior = await conn.fetchrow(
        "SELECT slot_id, qty FROM holds "
        "WHERE tenant_id = $1 AND user_id = $2 AND idempotency_key = $3",
        tenant_id,
        user_id,
        idempotency_key,
    )
    if prior is None:
        return False
    if prior["slot_id"] != slot_id or prior["qty"] != qty:
        raise Conflict(
            "idempotency key was already used for a different hold",
            {"reason": "exists_with_different_fields"},
        )
    return True


async def audit_tenant(conn: asyncpg.Connection, *, tenant_id: UUID) -> TenantAudit:
    """Count oversold slots, counter/hold mismatches and hold rows of one tenant."""
    row = await conn.fetchrow(
        """
        WITH held AS (
            SELECT slot_id, sum(qty) AS qty FROM holds
            WHERE tenant_id = $1 AND status = 'held' GROUP BY slot_id
        )
        SELECT
            (SELECT count(*) FROM holds WHERE tenant_id = $1) AS hold_rows,
            count(*) FILTER (WHERE s.held_qty + s.confirmed_qty > s.capacity) AS oversold,
            count(*) FILTER (WHERE s.held_qty <> coalesce(h.qty, 0)) AS mismatches
        FROM slots AS s LEFT JOIN held AS h ON h.slot_id = s.id
        WHERE s.tenant_id = $1
        """,
        tenant_id,
    )
    return TenantAudit(
        hold_rows=row["hold_rows"],
        oversold_slots=row["oversold"],
        counter_mismatches=row["mismatches"],
    )


def with_database(dsn: str, database: str) -> str:
    """``dsn`` (a ``postgresql://`` URL) pointing at ``database`` on the same server.

    Raises ValueError for a key=value DSN, which the bench does not rewrite.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("not a postgresql:// URL")
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


async def create_scratch_database(conn: asyncpg.Connection, name: str) -> None:
    """Create an empty database for one bench run. Raises InsufficientPrivilegeError if the
    role may not create databases."""
    await conn.execute(f"CREATE DATABASE {_scratch_ident(name)}")


async def drop_scratch_database(conn: asyncpg.Connection, name: str) -> None:
    """Drop a bench database, ending any session still connected to it."""
    await conn.execute(f"DROP DATABASE IF EXISTS {_scratch_ident(name)} WITH (FORCE)")


def _scratch_ident(name: str) -> str:
    # Identifiers cannot be bound as parameters; only names we generate get into DDL.
    if not SCRATCH_DATABASE_NAME.fullmatch(name):
        raise ValueError(f"not a bench database name: {name!r}")
    return f'"{name}"'


async def server_setting(conn: asyncpg.Connection, name: str) -> str:
    """The value ``SHOW name`` would print, for this session."""
    return str(await conn.fetchval("SELECT current_setting($1)", name))


async def checkpoint(conn: asyncpg.Connection) -> bool:
    """Flush dirty pages now so a checkpoint does not land inside a timed phase.

    False if this role may not checkpoint (needs superuser or pg_checkpoint).
    """
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True
