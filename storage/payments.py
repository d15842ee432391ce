"""Payment intents, their gateway attempts and refunds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from storage import notifications


@dataclass(frozen=True)
class Intent:
    intent_id: UUID
    tenant_id: UUID
    user_id: UUID
    purpose: str
    hold_id: UUID | None
    wallet_id: UUID | None
    amount_paise: int
    status: str
    outcome: str | None
    captured_attempt_id: UUID | None
    captured_paise: int
    refunded_paise: int
    idempotency_key: str
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    attempt_id: UUID
    intent_id: UUID
    tenant_id: UUID
    gateway: str
    gateway_order_id: str | None
    status: str
    fee_paise: int
    error: str | None
    key_id: str | None = None
    checkout_token: str | None = None
    route_reason: str = "cheapest"


@dataclass(frozen=True)
class Refund:
    refund_id: UUID
    intent_id: UUID
    amount_paise: int
    reason: str
    status: str
    gateway_refund_id: str | None
    idempotency_key: str


def _intent(r: asyncpg.Record) -> Intent:
    return Intent(
        intent_id=r["id"],
        tenant_id=r["tenant_id"],
        user_id=r["user_id"],
        purpose=r["purpose"],
        hold_id=r["hold_id"],
        wallet_id=r["wallet_id"],
        amount_paise=r["amount_paise"],
        status=r["status"],
        outcome=r["outcome"],
        captured_attempt_id=r["captured_attempt_id"],
        captured_paise=r["captured_paise"],
        refunded_paise=r["refunded_paise"],
        idempotency_key=r["idempotency_key"],
        created_at=r["created_at"],
    )


def _attempt(r: asyncpg.Record) -> Attempt:
    return Attempt(
        attempt_id=r["id"],
        intent_id=r["intent_id"],
        tenant_id=r["tenant_id"],
        gateway=r["gateway"],
        gateway_order_id=r["gateway_order_id"],
        status=r["status"],
        fee_paise=r["fee_paise"],
        error=r["error"],
        key_id=r["key_id"],
        checkout_token=r["checkout_token"],
        route_reason=r["route_reason"],
    )


def _refund(r: asyncpg.Record) -> Refund:
    return Refund(
        refund_id=r["id"],
        intent_id=r["intent_id"],
        amount_paise=r["amount_paise"],
        reason=r["reason"],
        status=r["status"],
        gateway_refund_id=r["gateway_refund_id"],
        idempotency_key=r["idempotency_key"],
    )


async def create_intent(
    conn: asyncpg.Connection,
    *,
    intent_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    purpose: str,
    hold_id: UUID | None,
    wallet_id: UUID | None,
    amount_paise: int,
    idempotency_key: str,
) -> Intent:
    """The intent made with this key (made now if new). Callers compare fields for reuse."""
    await conn.execute(
        """
        INSERT INTO payment_intents (id, tenant_id, user_id, purpose, hold_id, wallet_id,
                                     amount_paise, status, idempotency_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'created', $8)
        ON CONFLICT (tenant_id, user_id, idempotency_key) DO NOTHING
        """,
        intent_id,
        tenant_id,
        user_id,
        purpose,
        hold_id,
        wallet_id,
        amount_paise,
        idempotency_key,
    )
    row = await conn.fetchrow(
        "SELECT * FROM payment_intents WHERE tenant_id = $1 AND user_id = $2 "
        "AND idempotency_key = $3",
        tenant_id,
        user_id,
        idempotency_key,
    )
    assert row is not None
    return _intent(row)


async def get_intent(
    conn: asyncpg.Connection,
    *,
    intent_id: UUID,
    tenant_id: UUID | None = None,
    for_update: bool = False,
) -> Intent | None:
    row = await conn.fetchrow(
        "SELECT * FROM payment_intents WHERE id = $1 "
        "AND ($2::uuid IS NULL OR tenant_id = $2)" + (" FOR UPDATE" if for_update else ""),
        intent_id,
        tenant_id,
    )
    return _intent(row) if row else None


async def insert_attempt(
    conn: asyncpg.Connection,
    *,
    attempt_id: UUID,
    intent: Intent,
    gateway: str,
    fee_paise: int,
    key_id: str | None = None,
    route_reason: str = "cheapest",
) -> Attempt:
    """Also the record of the routing decision: which gateway, why, at what fee."""
    row = await conn.fetchrow(
        """
        INSERT INTO payment_attempts (id, intent_id, tenant_id, gateway, status, fee_paise,
                                      key_id, route_reason)
        VALUES ($1, $2, $3, $4, 'creating', $5, $6, $7) RETURNING *
        """,
        attempt_id,
        intent.intent_id,
        intent.tenant_id,
        gateway,
        fee_paise,
        key_id,
        route_reason,
    )
    assert row is not None
    return _attempt(row)


async def update_attempt(
    conn: asyncpg.Connection,
    *,
    attempt_id: UUID,
    status: str,
    gateway_order_id: str | None = None,
    error: str | None = None,
    checkout_token: str | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE payment_attempts SET status = $2,
               gateway_order_id = coalesce($3, gateway_order_id), error = $4,
               checkout_token = coalesce($5, checkout_token), updated_at = now()
        WHERE id = $1
        """,
        attempt_id,
        status,
        gateway_order_id,
        error,
        checkout_token,
    )


async def attempts_of(conn: asyncpg.Connection, *, intent_id: UUID) -> list[Attempt]:
    rows = await conn.fetch(
        "SELECT * FROM payment_attempts WHERE intent_id = $1 ORDER BY created_at, id", intent_id
    )
    return [_attempt(r) for r in rows]


async def attempt_by_order(
    conn: asyncpg.Connection, *, gateway: str, gateway_order_id: str
) -> Attempt | None:
    row = await conn.fetchrow(
        "SELECT * FROM payment_attempts WHERE gateway = $1 AND gateway_order_id = $2",
        gateway,
        gateway_order_id,
    )
    return _attempt(row) if row else None


async def mark_captured(
    conn: asyncpg.Connection, *, intent_id: UUID, attempt_id: UUID, amount_paise: int
) -> None:
    row = await conn.fetchrow(
        """
        UPDATE payment_intents SET status = 'captured', captured_attempt_id = $2,
               captured_paise = $3, updated_at = now()
        WHERE id = $1 RETURNING tenant_id, user_id, hold_id
        """,
        intent_id,
        attempt_id,
        amount_paise,
    )
    if row is not None:
        await notifications.enqueue(
            conn,
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            kind="payment_success",
            data={
                "payment_id": str(intent_id),
                "amount_paise": amount_paise,
                "booking_id": str(row["hold_id"]) if row["hold_id"] else None,
            },
            dedupe_key=f"payment_success:{intent_id}",
        )
    await conn.execute(
        "UPDATE payment_attempts SET status = 'paid', updated_at = now() WHERE id = $1",
        attempt_id,
    )


async def mark_failed(conn: asyncpg.Connection, *, intent_id: UUID) -> None:
    row = await conn.fetchrow(
        "UPDATE payment_intents SET status = 'failed', updated_at = now() "
        "WHERE id = $1 AND status = 'created' RETURNING tenant_id, user_id, amount_paise",
        intent_id,
    )
    if row is not None:
        await notifications.enqueue(
            conn,
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            kind="payment_failed",
            data={"payment_id": str(intent_id), "amount_paise": row["amount_paise"]},
            dedupe_key=f"payment_failed:{intent_id}",
        )


async def set_outcome(conn: asyncpg.Connection, *, intent_id: UUID, outcome: str) -> None:
    await conn.execute(
        "UPDATE payment_intents SET outcome = $2, updated_at = now() "
        "WHERE id = $1 AND outcome IS NULL",
        intent_id,
        outcome,
    )


async def insert_refund(
    conn: asyncpg.Connection,
    *,
    refund_id: UUID,
    intent: Intent,
    amount_paise: int,
    reason: str,
    idempotency_key: str,
) -> tuple[Refund, bool]:
    """(the refund with this key, whether it was made now). Counts it against the intent."""
    row = await conn.fetchrow(
        """
        INSERT INTO payment_refunds (id, intent_id, tenant_id, amount_paise, reason, status,
                                     idempotency_key)
        VALUES ($1, $2, $3, $4, $5, 'requested', $6)
        ON CONFLICT (intent_id, idempotency_key) DO NOTHING RETURNING *
        """,
        refund_id,
        intent.intent_id,
        intent.tenant_id,
        amount_paise,
        reason,
        idempotency_key,
    )
    if row is not None:
        await conn.execute(
            "UPDATE payment_intents SET refunded_paise = refunded_paise + $2, updated_at = now() "
            "WHERE id = $1",
            intent.intent_id,
            amount_paise,
        )
        return _refund(row), True
    existing = await conn.fetchrow(
        "SELECT * FROM payment_refunds WHERE intent_id = $1 AND idempotency_key = $2",
        intent.intent_id,
        idempotency_key,
    )
    assert existing is not None
    return _refund(existing), False


async def update_refund(
    conn: asyncpg.Connection, *, refund_id: UUID, status: str, gateway_refund_id: str | None
) -> None:
    row = await conn.fetchrow(
        "UPDATE payment_refunds r SET status = $2, gateway_refund_id = coalesce($3, "
        "r.gateway_refund_id), updated_at = now() FROM payment_intents i "
        "WHERE r.id = $1 AND i.id = r.intent_id "
        "RETURNING r.tenant_id, i.user_id, r.amount_paise, r.intent_id",
        refund_id,
        status,
        gateway_refund_id,
    )
    if row is not None and status == "processed":
        await notifications.enqueue(
            conn,
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            kind="refund_processed",
            data={
                "refund_id": str(refund_id),
                "payment_id": str(row["intent_id"]),
                "amount_paise": row["amount_paise"],
            },
            dedupe_key=f"refund_processed:{refund_id}",
        )


async def get_refund(conn: asyncpg.Connection, *, refund_id: UUID) -> Refund | None:
    row = await conn.fetchrow("SELECT * FROM payment_refunds WHERE id = $1", refund_id)
    return _refund(row) if row else None


async def fail_refund(conn: asyncpg.Connection, *, refund: Refund) -> None:
    """The gateway refused or failed it: it no longer counts as refunded."""
    async with conn.transaction():
        changed = await conn.fetchval(
            "UPDATE payment_refunds SET status = 'failed', updated_at = now() "
            "WHERE id = $1 AND status = 'requested' RETURNING 1",
            refund.refund_id,
        )
        if changed:
            await conn.execute(
                "UPDATE payment_intents SET refunded_paise = refunded_paise - $2, "
                "updated_at = now() WHERE id = $1",
                refund.intent_id,
                refund.amount_paise,
            )


async def unsent_refunds(
    conn: asyncpg.Connection, *, older_than_secs: float, limit: int = 100
) -> list[Refund]:
    rows = await conn.fetch(
        "SELECT * FROM payment_refunds WHERE status = 'requested' "
        "AND updated_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
        older_than_secs,
        limit,
    )
    return [_refund(r) for r in rows]


async def refunds_of(conn: asyncpg.Connection, *, intent_id: UUID) -> list[Refund]:
    rows = await conn.fetch(
        "SELECT * FROM payment_refunds WHERE intent_id = $1 ORDER BY created_at, id", intent_id
    )
    return [_refund(r) for r in rows]


async def stale_intents(
    conn: asyncpg.Connection, *, older_than_secs: float, limit: int = 100
) -> list[Intent]:
    """Intents still waiting for their money, or captured but not yet fulfilled."""
    rows = await conn.fetch(
        """
        SELECT * FROM payment_intents
        WHERE (status = 'created' OR (status = 'captured' AND outcome IS NULL))
          AND updated_at < now() - make_interval(secs => $1)
        ORDER BY updated_at LIMIT $2
        """,
        older_than_secs,
        limit,
    )
    return [_intent(r) for r in rows]
