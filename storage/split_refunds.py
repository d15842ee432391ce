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
