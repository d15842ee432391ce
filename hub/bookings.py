"""Cancelling a confirmed booking: places back to the slot, money back by the tenant's
cancellation policy, to the source (the gateway that captured it, or the wallet that paid) or
to the user's wallet.

Every step has a fixed id (the actor's cancel is idempotent; the refund's key and the ledger
transfer id derive from the hold id), so repeating a cancellation refunds nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from actors.commands import CancelBookingCommand
from actors.ledger import TransferSpec
from actors.pool import ShardPool
from hub.auth import Principal
from hub.payments import PaymentService
from hub.split_refunds import SplitRefunds
from hub.wallets import WalletService
from protocols.cancellation import refund_paise, refund_percent
from protocols.errors import NotFound
from storage import bookings as store
from storage.tenancy import tenant_scope


class BookingCancellation:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        shards: ShardPool,
        wallets: WalletService,
        payments: PaymentService,
    ) -> None:
        self._db = db
        self._shards = shards
        self._wallets = wallets
        self._payments = payments
        # Set by the padel platform (hub/padel.py): refunds a split booking share by share.
        self.split_refunds: SplitRefunds | None = None

    async def cancel(
        self, principal: Principal, hold_id: UUID, *, refund_to: str, reason: str
    ) -> dict[str, Any]:
        if principal.tenant_id is None:
            raise NotFound("no such booking", {"hold_id": str(hold_id)})
        tenant_id = principal.tenant_id
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            booking = await store.booking_for_cancel(conn, tenant_id=tenant_id, hold_id=hold_id)
        if booking is None:
            raise NotFound("no such booking", {"hold_id": str(hold_id)})
        # The percentage is decided at the first cancellation (the actor's answer is the same
        # for every repeat; the refund's fixed key stops a second, different amount).
        percent = refund_percent(booking.policy, starts_at=booking.starts_at, now=datetime.now(UTC))
        cancelled = await self._shards.execute(
            CancelBookingCommand(
                tenant_id=tenant_id,
                user_id=principal.user_id,
                hold_id=hold_id,
                may_cancel_any=principal.is_staff_of(tenant_id),
            )
        )
        if self.split_refunds is not None:
            by_shares = await self.split_refunds.after_cancel(
                principal,
                tenant_id=tenant_id,
                hold_id=hold_id,
                percent=percent,
                refund_to=refund_to,
                reason=reason,
            )
            if by_shares is not None:
                return {
                    "hold_id": str(cancelled.hold_id),
                    "status": str(cancelled.status),
                    **by_shares,
                }
        async with self._db.acquire() as conn:
            paid = await store.payment_of_booking(conn, tenant_id=tenant_id, hold_id=hold_id)
            amount = (
                min(refund_paise(paid.paid_paise, percent), paid.refundable_paise) if paid else 0
            )
            destination = None
            if paid is not None and amount > 0:
                by_card = refund_to == "source" and paid.method == "gateway"
                destination = "source" if by_card else "wallet"
            decision, _made = await store.decide_cancellation(
                conn,
                tenant_id=tenant_id,
                hold_id=hold_id,
                decision=store.CancellationDecision(
                    percent if paid else 0, amount if destination else 0, destination
                ),
                intent_id=paid.intent_id if paid else None,
            )
        # Carry out the decision taken the first time (fixed ids: nothing is paid twice).
        if decision.refunded_to == "source":
            assert paid is not None and paid.intent_id is not None
            await self._payments.refund(
                principal,
                paid.intent_id,
                amount_paise=decision.refund_paise,
                reason=reason or "booking cancelled",
                idempotency_key=f"cancel:{hold_id}",
                as_system=True,
            )
        elif decision.refunded_to == "wallet":
            await self._to_wallet(booking, decision.refund_paise, hold_id)
        return {
            "hold_id": str(cancelled.hold_id),
            "status": str(cancelled.status),
            "refund_percent": decision.refund_percent,
            "refund_paise": decision.refund_paise,
            "refunded_to": decision.refunded_to,
        }

    async def _to_wallet(self, booking: store.BookingForCancel, amount: int, hold_id: UUID) -> None:
        """The tenant gives the money back into the user's INR wallet."""
        wallet, payable = await self._wallets.wallet_and_payable(booking.tenant_id, booking.user_id)
        await self._wallets.apply(
            (TransferSpec(f"cancel:{hold_id}", payable, wallet, amount, code="booking_cancelled"),)
        )
