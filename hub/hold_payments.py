"""Paying a slot hold from the user's wallet: hold = pending, booking confirmed = post, hold
released or expired = void.

The steps touch two logical actors (the tenant's inventory, the user's wallet), so they are a
saga recorded in ``hold_payments``: reserve the money (a pending transfer that outlives the
hold), confirm the hold, post the money. Every step has a fixed id, so repeating any of them is
harmless; a client retry or the sweeper (every few seconds, in every hub) finishes whatever a
crash left half done: a confirmed hold gets its money posted, a released or expired one gets
its reservation voided.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from actors.commands import ConfirmHoldCommand
from actors.ledger import PostSpec, TransferSpec, VoidSpec
from actors.pool import ShardPool
from hub.auth import Principal
from hub.background import cancel_and_wait
from hub.wallets import WalletService, transfer_view
from protocols.errors import Conflict, NotFound, SevaError
from storage import hold_payments as store
from storage import ledger as ledger_db
from storage import splits as split_store
from storage.hold_pay_lock import lock_hold_payment
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

# The reservation outlives the hold by this much, so it is never released under a hold that
# is still being confirmed; a released or expired hold voids it explicitly.
RESERVATION_MARGIN_SECS = 3600
SWEEP_EVERY_SECS = 5.0
SWEEP_AFTER_SECS = 10.0


class HoldPayments:
    def __init__(self, *, db: asyncpg.Pool, shards: ShardPool, wallets: WalletService) -> None:
        self._db = db
        self._shards = shards
        self._wallets = wallets
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def pay_from_wallet(self, principal: Principal, hold_id: UUID) -> dict[str, Any]:
        """Confirm the caller's hold, paid from their INR wallet. Safe to repeat."""
        if principal.tenant_id is None:
            raise NotFound("no such hold", {"hold_id": str(hold_id)})
        async with tenant_scope(self._db, principal.tenant_id, readonly=True) as conn:
            hold = await store.hold_for_payment(
                conn, tenant_id=principal.tenant_id, hold_id=hold_id
            )
        if hold is None or hold.user_id != principal.user_id:
            raise NotFound("no such hold", {"hold_id": str(hold_id)})
        amount = hold.amount_paise
        async with self._db.acquire() as conn, conn.transaction():
            # Under the hold's payment lock: a split cannot be made between check and record.
            await lock_hold_payment(conn, hold_id=hold_id)
            if await split_store.has_live_split(conn, hold_id=hold_id):
                raise Conflict("this hold is paid in shares", {"reason": "split"})
            wallet = await ledger_db.ensure_account(
                conn,
                code="user_wallet",
                currency="INR",
                tenant_id=hold.tenant_id,
                owner_user_id=hold.user_id,
                limited=True,
            )
            payable = await ledger_db.ensure_account(
                conn, code="tenant_payable", currency="INR", tenant_id=hold.tenant_id
            )
            payment = await store.record_reserved(
                conn,
                hold_id=hold_id,
                tenant_id=hold.tenant_id,
                user_id=hold.user_id,
                wallet_id=wallet,
                amount_paise=amount,
                pending_id=f"hold:{hold_id}",
            )
        if payment.state == "voided":
            raise Conflict("this hold's payment was cancelled", {"status": hold.status})
        if amount > 0 and payment.state == "reserved":
            remaining = (hold.expires_at - datetime.now(UTC)).total_seconds()
            if hold.status == "held" and remaining <= 0:
                raise Conflict("hold has expired", {"status": "expired"})
            try:
                await self._wallets.apply(
                    (
                        TransferSpec(
                            payment.pending_id,
                            wallet,
                            payable,
                            amount,
                            code="hold_payment",
                            pending=True,
                            timeout_secs=int(max(remaining, 0)) + RESERVATION_MARGIN_SECS,
                            user_data={"hold_id": str(hold_id)},
                        ),
                    )
                )
            except SevaError:
                # Nothing was reserved (e.g. insufficient funds): the record goes away quietly.
                async with self._db.acquire() as conn:
                    await store.mark(conn, hold_id=hold_id, state="voided")
                raise
        try:
            confirmed = await self._shards.execute(
                ConfirmHoldCommand(tenant_id=hold.tenant_id, hold_id=hold_id)
            )
        except Conflict:
            await self._finish(payment, "expired")
            raise
        posted = await self._finish(payment, "confirmed")
        return {
            "hold_id": str(confirmed.hold_id),
            "status": str(confirmed.status),
            "amount_paise": amount,
            "payment": transfer_view(posted).model_dump(mode="json") if posted else None,
        }

    async def _finish(self, payment: store.HoldPayment, hold_status: str) -> Any:
        """Post for a confirmed hold, void for a released or expired one; idempotent."""
        record = None
        if payment.amount_paise > 0:
            if hold_status == "confirmed":
                spec: Any = PostSpec(f"{payment.pending_id}:post", payment.pending_id)
            else:
                spec = VoidSpec(f"{payment.pending_id}:void", payment.pending_id)
            try:
                [record] = await self._wallets.apply((spec,))
            except Conflict as exc:
                # Already resolved the same way by someone else: fine; otherwise a real clash.
                wanted = "already_posted" if hold_status == "confirmed" else "already_voided"
                if (exc.details or {}).get("reason") != wanted:
                    raise
        async with self._db.acquire() as conn:
            await store.mark(
                conn,
                hold_id=payment.hold_id,
                state="done" if hold_status == "confirmed" else "voided",
            )
        return record

    async def sweep(self) -> int:
        """Finish reservations left open (crash between steps); returns how many."""
        async with self._db.acquire() as conn:
            stuck = await store.open_payments(conn, older_than_secs=SWEEP_AFTER_SECS)
        finished = 0
        for payment, hold_status in stuck:
            if hold_status == "held":
                continue  # still in play: its owner may confirm it
            try:
                await self._finish(payment, hold_status)
                finished += 1
            except SevaError as exc:
                log.warning("could not finish payment of hold %s: %s", payment.hold_id, exc)
        return finished

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_SECS)
            try:
                await self.sweep()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("hold payment sweep failed: %r", exc)
