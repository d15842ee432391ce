"""Refunds of a confirmed split booking that is cancelled (``POST /bookings/{id}/cancel``).

``hub/bookings.py`` cancels the booking through the tenant's actor, then hands a split booking
here. The tenant's cancellation policy gives one percentage (decided at the first cancellation
and stored with it); each player's settled share comes back by that percentage, rounded down
to whole paise, to where it came from: a wallet share into that player's wallet (ledger
transfer ``cancel:<hold_id>:<user_id>`` from the tenant's payable), a gateway share through its
gateway (refund key ``cancel:<hold_id>:<user_id>``, which takes it out of the tenant's payable
too). With ``refund_to: "wallet"`` gateway shares go into their payers' wallets instead.

Every share's refund has a fixed id, so repeating the cancellation refunds no share twice; when
all went out the shares are ``refunded``. A crash between the decision and the refunds is
finished by a sweeper in every hub (cancellations decided more than ``FINISH_AFTER_SECS`` ago
with shares still ``settled``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import asyncpg

from actors.ledger import TransferSpec
from hub.auth import Principal
from hub.background import cancel_and_wait, run_every
from hub.payments import PaymentService
from hub.wallets import WalletService
from protocols.cancellation import refund_paise
from protocols.errors import SevaError
from storage import split_refunds as store
from storage import splits as split_store
from storage.bookings import CancellationDecision
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

FINISH_AFTER_SECS = 5.0


class SplitRefunds:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        wallets: WalletService,
        payments: PaymentService,
        sweep_every_secs: float,
    ) -> None:
        self._db = db
        self._wallets = wallets
        self._payments = payments
        self._sweep_every = sweep_every_secs
        self._task: asyncio.Task[None] | None = None

    async def after_cancel(
        self,
        principal: Principal,
        *,
        tenant_id: UUID,
        hold_id: UUID,
        percent: int,
        refund_to: str,
        reason: str,
    ) -> dict[str, Any] | None:
        """Refund a cancelled split booking's shares; None if the booking was not paid in
        shares (the caller refunds it as a whole). Answers ``refund_percent``, ``refund_paise``
        (all shares), ``refunded_to`` and ``shares: [{user_id, refund_paise, refunded_to}]``."""
        paid = await self._paid_shares(tenant_id, hold_id)
        if paid is None:
            return None
        wanted = _refunds(paid, percent, refund_to)
        total = sum(r.amount_paise for r in wanted)
        destination = refund_to if total > 0 else None
        async with self._db.acquire() as conn:
            decision, _made = await store.decide(
                conn,
                tenant_id=tenant_id,
                hold_id=hold_id,
                decision=CancellationDecision(percent, total, destination),
                refunds=wanted,
            )
        refunds = await self._carry_out(principal, tenant_id, hold_id, paid, decision, reason)
        return {
            "refund_percent": decision.refund_percent,
            "refund_paise": decision.refund_paise,
            "refunded_to": decision.refunded_to,
            "shares": [
                {
                    "user_id": str(r.user_id),
                    "refund_paise": r.amount_paise,
                    "refunded_to": r.to if r.amount_paise > 0 else None,
                }
                for r in refunds
            ],
        }

    async def _paid_shares(self, tenant_id: UUID, hold_id: UUID) -> list[split_store.Share] | None:
        """The shares that paid into the booking; None if it was not a confirmed split."""
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            split = await split_store.get_split(conn, tenant_id=tenant_id, hold_id=hold_id)
            shares = await split_store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
        if split is None or split.status != "confirmed":
            return None
        return [s for s in shares if s.status in ("settled", "refunded") and s.amount_paise > 0]

    async def _carry_out(
        self,
        principal: Principal,
        tenant_id: UUID,
        hold_id: UUID,
        paid: list[split_store.Share],
        decision: CancellationDecision,
        reason: str,
    ) -> list[store.ShareRefund]:
        """Carry out the decision taken the first time (its percentage and destination); the
        shares are ``refunded`` once every refund went out (fixed ids: a repeat pays nothing
        twice)."""
        if decision.refunded_to is None:
            return []
        refunds = _refunds(paid, decision.refund_percent, decision.refunded_to)
        for refund in refunds:
            if refund.amount_paise > 0:
                await self._refund_share(principal, tenant_id, hold_id, refund, reason)
        async with tenant_scope(self._db, tenant_id) as conn:
            await store.mark_refunded(conn, tenant_id=tenant_id, hold_id=hold_id)
        return refunds

    # -- the sweeper ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def sweep(self) -> int:
        """Finish cancelled split bookings whose refunds a crash left undone; returns how many
        were finished."""
        async with self._db.acquire() as conn:
            due = await store.unfinished(conn, older_than_secs=FINISH_AFTER_SECS)
        finished = 0
        for tenant_id, hold_id, booker in due:
            # The hub refunds on the booker's behalf, as the cancellation itself did.
            principal = Principal(user_id=booker, tenant_id=tenant_id, role="user")
            try:
                paid = await self._paid_shares(tenant_id, hold_id)
                async with self._db.acquire() as conn:
                    decision = await store.decision_of(conn, hold_id=hold_id)
                if paid is None or decision is None:
                    continue
                await self._carry_out(
                    principal, tenant_id, hold_id, paid, decision, "booking cancelled"
                )
                finished += 1
            except SevaError as exc:
                log.warning("could not finish the refunds of split booking %s: %s", hold_id, exc)
        return finished

    async def _sweep_forever(self) -> None:
        await run_every(self._sweep_every, self.sweep, "split refund sweep")

    async def _refund_share(
        self,
        principal: Principal,
        tenant_id: UUID,
        hold_id: UUID,
        refund: store.ShareRefund,
        reason: str,
    ) -> None:
        key = f"cancel:{hold_id}:{refund.user_id}"
        if refund.to == "gateway":
            assert refund.intent_id is not None
            await self._payments.refund(
                principal,
                refund.intent_id,
                amount_paise=refund.amount_paise,
                reason=reason or "booking cancelled",
                idempotency_key=key,
                as_system=True,
            )
            return
        wallet, payable = await self._wallets.wallet_and_payable(tenant_id, refund.user_id)
        # The same id again with the same fields answers the first transfer: paid once.
        await self._wallets.apply(
            (TransferSpec(key, payable, wallet, refund.amount_paise, code="booking_cancelled"),)
        )


def _refunds(
    shares: list[split_store.Share], percent: int, refund_to: str | None
) -> list[store.ShareRefund]:
    return [
        store.ShareRefund(
            user_id=s.user_id,
            amount_paise=refund_paise(s.amount_paise, percent),
            to="gateway" if s.method == "gateway" and refund_to == "source" else "wallet",
            intent_id=s.intent_id,
        )
        for s in shares
    ]
