"""Cancelling a confirmed split booking: one decision for the booking, a refund per share."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from storage import notifications
from storage.bookings import CancellationDecision, decide_cancellation


@dataclass(frozen=True)
class ShareRefund:
    """What one player gets back: ``to`` is ``wallet`` (their INR wallet) or ``gateway`` (the
    gateway payment of their share, ``intent_id``)."""

    user_id: UUID
    amount_paise: int
    to: str
    intent_id: UUID | None


async def decide(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    hold_id: UUID,
    decision: CancellationDecision,
    refunds: list[ShareRefund],
) -> tuple[CancellationDecision, bool]:
    """Record the booking's cancellation once (``storage.bookings.decide_cancellation``);
    returns (the decision in force, made now). Made now, in the same transaction: a gateway
    share refunded into a wallet is counted against its payment (so a later card refund
    cannot pay it out again), and each player who gets money back is notified."""
    async with conn.transaction():
        decided, made = await decide_cancellation(
            conn, tenant_id=tenant_id, hold_id=hold_id, decision=decision, intent_id=None
        )
        if made:
            for refund in refunds:
                if refund.amount_paise <= 0:
                    continue
                if refund.to == "wallet" and refund.intent_id is not None:
                    await conn.execute(
                        "UPDATE payment_intents SET refunded_paise = refunded_paise + $2 "
                        "WHERE id = $1",
                        refund.intent_id,
                        refund.amount_paise,
                    )
                await notifications.enqueue(
                    conn,
                    tenant_id=tenant_id,
                    user_id=refund.user_id,
                    kind="refund_processed",
                    data={
                        "booking_id": str(hold_id),
                        "amount_paise": refund.amount_paise,
                        "refunded_to": refund.to,
                    },
                    dedupe_key=f"split_cancel_refund:{hold_id}:{refund.user_id}",
                )
    return decided, made


async def decision_of(conn: asyncpg.Connection, *, hold_id: UUID) -> CancellationDecision | None:
    row = await conn.fetchrow(
        "SELECT refund_percent, refund_paise, refunded_to FROM booking_cancellations "
        "WHERE hold_id = $1",
        hold_id,
    )
    if row is None:
        return None
    return CancellationDecision(row["refund_percent"], row["refund_paise"], row["refunded_to"])


async def mark_refunded(conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID) -> None:
    """Every settled share of a cancelled split booking has had its refund carried out."""
    await conn.execute(
        "UPDATE split_shares SET status = 'refunded', updated_at = now() "
        "WHERE tenant_id = $1 AND hold_id = $2 AND status = 'settled'",
        tenant_id,
        hold_id,
    )


async def unfinished(
    conn: asyncpg.Connection, *, older_than_secs: float, limit: int = 100
) -> list[tuple[UUID, UUID, UUID]]:
    """``(tenant_id, hold_id, booker_user_id)`` of cancelled split bookings whose refunds were
    decided a while ago and not all carried out (a crash between the steps)."""
    rows = await conn.fetch(
        """
        SELECT p.tenant_id, p.hold_id, p.booker_user_id
        FROM split_payments p JOIN booking_cancellations c ON c.hold_id = p.hold_id
        WHERE p.status = 'confirmed' AND c.refunded_to IS NOT NULL
          AND c.created_at < now() - make_interval(secs => $1)
          AND EXISTS (SELECT 1 FROM split_shares s
                      WHERE s.hold_id = p.hold_id AND s.status = 'settled')
        ORDER BY c.created_at LIMIT $2
        """,
        older_than_secs,
        limit,
    )
    return [(r["tenant_id"], r["hold_id"], r["booker_user_id"]) for r in rows]
