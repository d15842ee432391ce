"""SQL of the chaos suite (``hub/chaos``): its own tenant, and reading back what it was told.

The chaos workload creates a tenant of its own in a fresh database, then, after the faults,
asks the database whether everything the hub acknowledged is there (exactly once).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class ChaosTenant:
    tenant_id: UUID
    resource_id: UUID
    day: date
    slot_ids: list[UUID]
    user_emails: list[str]
    admin_email: str
    platform_admin_email: str


async def create_chaos_tenant(
    conn: asyncpg.Connection,
    *,
    password_hash: str,
    slots: int,
    capacity: int,
    prices_paise: tuple[int, ...],
    users: int,
    hold_ttl_secs: int,
) -> ChaosTenant:
    """A temple tenant (timezone UTC) with one resource, ``slots`` slots two days ahead (prices
    cycling through ``prices_paise``), ``users`` users, one tenant admin and one platform admin
    (to configure its gateways), all with the same password."""
    tag = uuid.uuid4().hex[:10]
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    async with conn.transaction():
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name, kind, timezone, settings) "
            "VALUES ($1, $2, 'temple', 'UTC', $3::jsonb) RETURNING id",
            f"chaos-{tag}",
            f"Chaos temple {tag}",
            json.dumps({"hold_ttl_secs": hold_ttl_secs}),
        )
        resource_id = await conn.fetchval(
            "INSERT INTO resources (tenant_id, kind, name) VALUES ($1, 'puja', 'Abhishekam') "
            "RETURNING id",
            tenant_id,
        )
        slot_ids: list[UUID] = []
        for i in range(slots):
            starts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(minutes=30 * i)
            slot_ids.append(
                await conn.fetchval(
                    "INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, "
                    "capacity, price_paise) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    tenant_id,
                    resource_id,
                    starts,
                    starts + timedelta(minutes=30),
                    day,
                    capacity,
                    prices_paise[i % len(prices_paise)],
                )
            )
        emails = [f"devotee{i}-{tag}@chaos.test" for i in range(users)]
        admin_email = f"admin-{tag}@chaos.test"
        platform_email = f"platform-{tag}@chaos.test"
        people = [(tenant_id, e, "user") for e in emails]
        people += [
            (tenant_id, admin_email, "tenant_admin"),
            (None, platform_email, "platform_admin"),
        ]
        await conn.executemany(
            "INSERT INTO users (tenant_id, email, name, role, password_hash) "
            "VALUES ($1, $2, 'Chaos', $3, $4)",
            [(t, e, role, password_hash) for t, e, role in people],
        )
    return ChaosTenant(tenant_id, resource_id, day, slot_ids, emails, admin_email, platform_email)


async def holds_by_id(conn: asyncpg.Connection, *, tenant_id: UUID) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT h.id, h.idempotency_key, h.status, h.qty, hp.state AS wallet_state "
        "FROM holds h LEFT JOIN hold_payments hp ON hp.hold_id = h.id WHERE h.tenant_id = $1",
        tenant_id,
    )
    return {str(r["id"]): r for r in rows}


async def duplicate_hold_keys(conn: asyncpg.Connection, *, tenant_id: UUID) -> list[str]:
    """Idempotency keys that made more than one hold for one user."""
    rows = await conn.fetch(
        "SELECT idempotency_key FROM holds WHERE tenant_id = $1 "
        "GROUP BY user_id, idempotency_key HAVING count(*) > 1",
        tenant_id,
    )
    return [r["idempotency_key"] for r in rows]


async def intents_by_id(conn: asyncpg.Connection, *, tenant_id: UUID) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT p.id, p.purpose, p.status, p.outcome, p.amount_paise, p.captured_paise, "
        "p.refunded_paise, EXISTS (SELECT 1 FROM ledger_transfers t "
        "WHERE t.id = 'pay:' || p.id::text || ':topup') AS credited "
        "FROM payment_intents p WHERE p.tenant_id = $1",
        tenant_id,
    )
    return {str(r["id"]): r for r in rows}


async def existing_transfers(conn: asyncpg.Connection, ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT id FROM ledger_transfers WHERE id = ANY($1::text[])", ids)
    return {r["id"] for r in rows}


async def confirmation_counts(conn: asyncpg.Connection, *, tenant_id: UUID) -> dict[str, int]:
    """Per confirmed hold of the tenant: how many ``booking_confirmed`` notifications its
    user's inbox holds for it (0 when none yet)."""
    rows = await conn.fetch(
        """
        SELECT h.id, count(n.id) AS n FROM holds h
        LEFT JOIN notifications n ON n.user_id = h.user_id AND n.type = 'booking_confirmed'
                                 AND n.data ->> 'booking_id' = h.id::text
        WHERE h.tenant_id = $1 AND h.status = 'confirmed'
        GROUP BY h.id
        """,
        tenant_id,
    )
    return {str(r["id"]): r["n"] for r in rows}


async def unsettled_intents(conn: asyncpg.Connection, ids: list[UUID]) -> int:
    """How many of these intents have no outcome yet."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM payment_intents WHERE id = ANY($1::uuid[]) AND outcome IS NULL",
            ids,
        )
    )


async def user_wallet_drift(
    conn: asyncpg.Connection, *, tenant_id: UUID
) -> list[dict[str, int | str]]:
    """User wallets of the tenant whose posted balance differs from what the chaos workload's
    operations explain: top-ups credited, minus wallet-paid bookings, minus posted wallet holds
    (the workload does nothing else to them). A difference means money doubled or vanished."""
    rows = await conn.fetch(
        """
        SELECT a.id, a.credits_posted - a.debits_posted AS balance,
               coalesce((SELECT sum(p.amount_paise) FROM payment_intents p
                         JOIN ledger_transfers t ON t.id = 'pay:' || p.id::text || ':topup'
                         WHERE p.wallet_id = a.id AND p.purpose = 'wallet_topup'), 0)
             - coalesce((SELECT sum(hp.amount_paise) FROM hold_payments hp
                         WHERE hp.wallet_id = a.id AND hp.state = 'done'), 0)
             - coalesce((SELECT sum(t.amount) FROM ledger_transfers t
                         JOIN ledger_transfers pend ON pend.id = t.pending_id
                         WHERE t.kind = 'post' AND pend.debit_account_id = a.id
                           AND pend.code = 'chaos_transfer'), 0) AS expected
        FROM ledger_accounts a
        WHERE a.tenant_id = $1 AND a.code = 'user_wallet' AND a.currency = 'INR'
        """,
        tenant_id,
    )
    return [
        {"wallet_id": str(r["id"]), "balance": r["balance"], "expected": r["expected"]}
        for r in rows
        if r["balance"] != r["expected"]
    ]
