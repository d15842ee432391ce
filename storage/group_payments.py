"""SQL of the one payment of a devotional booking group (``group_payments``, migration 0023).

The row is the saga's lock: every step that decides the payment takes it ``FOR UPDATE``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

_COLUMNS = (
    "group_id, tenant_id, user_id, method, idempotency_key, amount_paise, status, pending_id, "
    "intent_id, reason, created_at, updated_at"
)


@dataclass(frozen=True)
class GroupPayment:
    group_id: UUID
    tenant_id: UUID
    user_id: UUID
    method: str  # wallet | gateway
    idempotency_key: str
    amount_paise: int
    status: str  # pending | confirmed | cancelled
    pending_id: str | None
    intent_id: UUID | None
    reason: str | None
    created_at: datetime
    updated_at: datetime


def _payment(row: asyncpg.Record) -> GroupPayment:
    return GroupPayment(*(row[c] for c in _COLUMNS.split(", ")))


async def get(
    conn: asyncpg.Connection, *, tenant_id: UUID, group_id: UUID, for_update: bool = False
) -> GroupPayment | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM group_payments WHERE tenant_id = $1 AND group_id = $2{lock}",
        tenant_id,
        group_id,
    )
    return None if row is None else _payment(row)


async def lock_group(conn: asyncpg.Connection, *, tenant_id: UUID, group_id: UUID) -> bool:
    """Serialize payments of one group (the group's row, ``FOR UPDATE``); False if none."""
    found = await conn.fetchval(
        "SELECT 1 FROM hold_groups WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        tenant_id,
        group_id,
    )
    return found is not None


async def put(
    conn: asyncpg.Connection,
    *,
    group_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    method: str,
    idempotency_key: str,
    amount_paise: int,
    pending_id: str | None,
) -> GroupPayment:
    """Start the group's payment, or replace a gateway payment that was never captured (the
    caller holds the group's lock and decided that)."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO group_payments (group_id, tenant_id, user_id, method, idempotency_key,
                                    amount_paise, pending_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (group_id) DO UPDATE SET
            method = EXCLUDED.method, idempotency_key = EXCLUDED.idempotency_key,
            amount_paise = EXCLUDED.amount_paise, pending_id = EXCLUDED.pending_id,
            intent_id = NULL, status = 'pending', reason = NULL, updated_at = now()
        RETURNING {_COLUMNS}
        """,
        group_id,
        tenant_id,
        user_id,
        method,
        idempotency_key,
        amount_paise,
        pending_id,
    )
    assert row is not None
    return _payment(row)


async def set_intent(
    conn: asyncpg.Connection, *, tenant_id: UUID, group_id: UUID, intent_id: UUID
) -> None:
    await conn.execute(
        "UPDATE group_payments SET intent_id = $3, updated_at = now() "
        "WHERE tenant_id = $1 AND group_id = $2",
        tenant_id,
        group_id,
        intent_id,
    )


async def finish(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    group_id: UUID,
    status: str,
    reason: str | None = None,
) -> None:
    """pending → confirmed | cancelled (only from pending)."""
    await conn.execute(
        "UPDATE group_payments SET status = $3, reason = $4, updated_at = now() "
        "WHERE tenant_id = $1 AND group_id = $2 AND status = 'pending'",
        tenant_id,
        group_id,
        status,
        reason,
    )


async def intent_status(conn: asyncpg.Connection, *, intent_id: UUID) -> str | None:
    """The intent's status (payment tables are not tenant-scoped: use a plain connection)."""
    status = await conn.fetchval("SELECT status FROM payment_intents WHERE id = $1", intent_id)
    return None if status is None else str(status)


async def stuck_wallet_payments(
    conn: asyncpg.Connection, *, older_than_secs: float, limit: int = 200
) -> list[tuple[UUID, UUID]]:
    """``(tenant_id, group_id)`` of wallet payments still pending after a while (the request
    that started them died between steps). Across tenants: a plain connection."""
    rows = await conn.fetch(
        "SELECT tenant_id, group_id FROM group_payments WHERE status = 'pending' "
        "AND method = 'wallet' AND updated_at < now() - make_interval(secs => $1) "
        "ORDER BY updated_at LIMIT $2",
        older_than_secs,
        limit,
    )
    return [(r["tenant_id"], r["group_id"]) for r in rows]
