"""Confirmed bookings as cancellation needs them: when, what policy, and how they were paid."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from storage import notifications, reminders


@dataclass(frozen=True)
class BookingForCancel:
    hold_id: UUID
    tenant_id: UUID
    user_id: UUID
    status: str
    starts_at: datetime
    policy: list[dict[str, Any]]


@dataclass(frozen=True)
class BookingPayment:
    """``method`` gateway (``intent_id``) or wallet (``wallet_id``); ``refundable_paise`` is
    what was paid and not yet given back."""

    method: str
    intent_id: UUID | None
    wallet_id: UUID | None
    paid_paise: int
    refundable_paise: int


async def booking_for_cancel(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID
) -> BookingForCancel | None:
    row = await conn.fetchrow(
        """
        SELECT h.id, h.tenant_id, h.user_id, h.status, s.starts_at, r.cancellation_policy
        FROM holds h
        JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
        JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
        WHERE h.tenant_id = $1 AND h.id = $2
        """,
        tenant_id,
        hold_id,
    )
    if row is None:
        return None
    policy = row["cancellation_policy"]
    if isinstance(policy, str):
        policy = json.loads(policy)
    return BookingForCancel(
        hold_id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        status=row["status"],
        starts_at=row["starts_at"],
        policy=policy or [],
    )


async def payment_of_booking(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID
) -> BookingPayment | None:
    """How the booking was paid: a captured gateway payment for this hold (or for the hold it
    replaced after expiring), or the user's wallet."""
    row = await conn.fetchrow(
        """
        SELECT p.id, p.captured_paise, p.refunded_paise FROM payment_intents p
        WHERE p.tenant_id = $1 AND p.status = 'captured'
          AND (p.hold_id = $2 OR 'repay:' || p.id::text =
               (SELECT idempotency_key FROM holds WHERE id = $2))
        """,
        tenant_id,
        hold_id,
    )
    if row is not None:
        return BookingPayment(
            "gateway",
            row["id"],
            None,
            row["captured_paise"],
            row["captured_paise"] - row["refunded_paise"],
        )
    row = await conn.fetchrow(
        "SELECT wallet_id, amount_paise FROM hold_payments "
        "WHERE tenant_id = $1 AND hold_id = $2 AND state = 'done'",
        tenant_id,
        hold_id,
    )
    if row is not None:
        return BookingPayment(
            "wallet", None, row["wallet_id"], row["amount_paise"], row["amount_paise"]
        )
    return None


@dataclass(frozen=True)
class CancellationDecision:
    refund_percent: int
    refund_paise: int
    refunded_to: str | None


async def decide_cancellation(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    hold_id: UUID,
    decision: CancellationDecision,
    intent_id: UUID | None,
) -> tuple[CancellationDecision, bool]:
    """Record the decision unless one exists; returns (the decision in force, made now).

    A wallet refund of a card payment is counted against the payment here, in the same
    transaction, so a later card refund cannot pay the same money out again. The booking's
    scheduled reminders are cancelled in it too.
    """
    async with conn.transaction():
        made = await conn.fetchval(
            """
            INSERT INTO booking_cancellations (hold_id, tenant_id, refund_percent, refund_paise,
                                               refunded_to)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hold_id) DO NOTHING RETURNING 1
            """,
            hold_id,
            tenant_id,
            decision.refund_percent,
            decision.refund_paise,
            decision.refunded_to,
        )
        if made:
            owner = await conn.fetchval("SELECT user_id FROM holds WHERE id = $1", hold_id)
            await notifications.enqueue(
                conn,
                tenant_id=tenant_id,
                user_id=owner,
                kind="booking_cancelled",
                data={
                    "booking_id": str(hold_id),
                    "refund_paise": decision.refund_paise,
                    "refunded_to": decision.refunded_to,
                },
                dedupe_key=f"booking_cancelled:{hold_id}",
            )
            await reminders.cancel_for_bookings(conn, hold_ids=[hold_id])
        if made and intent_id is not None and decision.refunded_to == "wallet":
            await conn.execute(
                "UPDATE payment_intents SET refunded_paise = refunded_paise + $2 WHERE id = $1",
                intent_id,
                decision.refund_paise,
            )
        row = await conn.fetchrow(
            "SELECT refund_percent, refund_paise, refunded_to FROM booking_cancellations "
            "WHERE hold_id = $1",
            hold_id,
        )
    assert row is not None
    return (
        CancellationDecision(row["refund_percent"], row["refund_paise"], row["refunded_to"]),
        bool(made),
    )
