"""One payment for a whole devotional booking group (a puja with its offerings, a yatra's days).

The group's holds become bookings **together or not at all**: the tenant's actor confirms them
with one linked command (``ConfirmHoldGroupCommand``), which refuses every one if any is not
live. The money moves around that decision:

- **wallet**: one pending transfer of the group's total (wallet → tenant payable, fixed id
  ``grouppay:<group_id>``), then the linked confirm, then the transfer is posted; if the
  confirm is refused the transfer is voided and the group's live holds released.
- **gateway**: one payment intent (purpose ``booking_group``, routed like any payment: the
  cheaper gateway first, failover). On capture (webhook, checkout callback or reconciliation;
  ``PaymentService`` applies a capture once and calls :meth:`GroupPayments.on_captured`) the
  holds are confirmed together and the capture booked to the tenant; if they cannot all be
  confirmed it is refunded and the holds released.

The saga's lock is the group's row (``hold_groups ... FOR UPDATE``), held across each step;
its record is ``group_payments`` (``pending → confirmed | cancelled``), committed before the
money moves. A retry with the same key repeats only idempotent steps (fixed transfer ids, an
actor answer for confirmed holds); a sweeper in every hub finishes wallet payments whose
request died between steps (post for a confirmed group, void and release otherwise). A
gateway payment that was never captured may be replaced by a new one (another key, or the
wallet); a late capture of the replaced intent is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from actors.commands import ConfirmHoldGroupCommand, ReleaseHoldCommand
from actors.ledger import PostSpec, TransferSpec, VoidSpec
from actors.pool import ShardPool
from hub.auth import Principal
from hub.background import cancel_and_wait, run_every
from hub.payments import PaymentService
from hub.wallets import WalletService
from protocols.devotional import PayGroup
from protocols.errors import Conflict, Forbidden, InsufficientFunds, NotFound, SevaError
from storage import devotional as groups
from storage import group_payments as store
from storage import ledger as ledger_db
from storage import payments as payment_store
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

INTENT_KEY_PREFIX = "grouppay:"
# The wallet reservation's life: far longer than any hold, so it never lapses under a confirm;
# a refused confirm voids it explicitly. Fixed, so a retry asks the ledger for the same thing.
RESERVATION_SECS = 7200
_CANNOT_BOOK = (Conflict, Forbidden, NotFound)
# Why a wallet payment that never reserved anything was closed (its request died first).
UNRESERVED = "unreserved"
AMOUNT_MISMATCH = "amount_mismatch"
SWEEP_EVERY_SECS = 5.0
SWEEP_AFTER_SECS = 30.0


def intent_key(group_id: UUID, idempotency_key: str) -> str:
    """A group's payment intent key; the group is read back from it on capture."""
    return f"{INTENT_KEY_PREFIX}{group_id}:{idempotency_key}"


def group_of_intent_key(key: str) -> tuple[UUID, str] | None:
    if not key.startswith(INTENT_KEY_PREFIX):
        return None
    group, _, client_key = key[len(INTENT_KEY_PREFIX) :].partition(":")
    try:
        return UUID(group), client_key
    except ValueError:
        return None


class GroupPayments:
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
        self._task: asyncio.Task[None] | None = None

    async def pay(self, principal: Principal, group_id: UUID, request: PayGroup) -> dict[str, Any]:
        """Pay the caller's whole group. Answers ``{group, group_payment, payment}``
        (``payment``: the gateway intent with its checkout, else null).

        Raises NotFound (not the caller's group), InsufficientFunds (wallet short: nothing
        moved), Conflict (the group is not wholly held: ``status``; paid or being paid with
        another key: ``already_paid`` / ``already_paying``; the same key with another method:
        ``exists_with_different_fields``; a hold could not be confirmed: ``hold_unavailable``
        with ``hold_id`` — the money went back and the holds were released)."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise NotFound("no such booking", {"group_id": str(group_id)})
        intent: dict[str, Any] | None = None
        # First the record, committed on its own: a request dying in the steps that follow
        # leaves something for a retry or the sweeper to finish.
        async with tenant_scope(self._db, tenant_id) as conn:
            if not await store.lock_group(conn, tenant_id=tenant_id, group_id=group_id):
                raise NotFound("no such booking", {"group_id": str(group_id)})
            view = await groups.group_view(conn, tenant_id=tenant_id, group_id=group_id)
            assert view is not None
            if view["user_id"] != str(principal.user_id):
                raise NotFound("no such booking", {"group_id": str(group_id)})
            payment = await self._current(conn, tenant_id, group_id, request)
            if payment is None:
                if view["status"] != "held":
                    raise Conflict(
                        f"only a wholly held booking can be paid; it is {view['status']}",
                        {"status": view["status"]},
                    )
                payment = await store.put(
                    conn,
                    group_id=group_id,
                    tenant_id=tenant_id,
                    user_id=principal.user_id,
                    method=request.method,
                    idempotency_key=request.idempotency_key,
                    amount_paise=view["amount_paise"],
                    pending_id=f"grouppay:{group_id}" if request.method == "wallet" else None,
                )
            if payment.status == "pending" and request.method == "gateway":
                intent = await self._payments.create_unlinked(
                    principal,
                    purpose="booking_group",
                    amount_paise=payment.amount_paise,
                    idempotency_key=intent_key(group_id, request.idempotency_key),
                )
                await store.set_intent(
                    conn,
                    tenant_id=tenant_id,
                    group_id=group_id,
                    intent_id=UUID(intent["payment_id"]),
                )
        refused: Conflict | None = None
        if payment.status == "pending" and request.method == "wallet":
            try:
                refused = await self._settle_wallet(payment, reserve=True)
            except InsufficientFunds:
                await self._close_unreserved(payment)
                raise
        elif payment.status == "cancelled":
            refused = _refused_before(payment.reason)
        if refused is not None:
            raise refused
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            payment = await store.get(conn, tenant_id=tenant_id, group_id=group_id) or payment
            view = await groups.group_view(conn, tenant_id=tenant_id, group_id=group_id)
        return {"group": view, "group_payment": _payment_view(payment), "payment": intent}

    async def _current(
        self, conn: asyncpg.Connection, tenant_id: UUID, group_id: UUID, request: PayGroup
    ) -> store.GroupPayment | None:
        """Under the group's lock: the group's payment this request continues, or None to
        start one (replacing a refused payment, a gateway payment never captured, or a wallet
        payment that never reserved anything); Conflict if the group is paid another way."""
        payment = await store.get(conn, tenant_id=tenant_id, group_id=group_id)
        if payment is None:
            return None
        if payment.status == "cancelled" and payment.reason == UNRESERVED:
            return None  # nothing happened: start again (the group is checked afresh)
        if payment.idempotency_key == request.idempotency_key:
            if payment.method != request.method:
                raise Conflict(
                    "idempotency key was already used for a different payment",
                    {"reason": "exists_with_different_fields"},
                )
            return payment
        if payment.status == "cancelled":
            return None  # refused: the group's holds were released, so it is checked afresh
        if payment.status == "confirmed":
            raise Conflict("this booking is already paid", {"reason": "already_paid"})
        async with self._db.acquire() as plain:  # payment and ledger tables: not tenant-scoped
            if payment.method == "gateway":
                started = payment.intent_id is not None and (
                    await store.intent_status(plain, intent_id=payment.intent_id) == "captured"
                )
            else:
                # Reservations are made under the group's lock, so none is in flight now.
                assert payment.pending_id is not None
                started = (
                    await ledger_db.transfer_route(plain, transfer_id=payment.pending_id)
                    is not None
                )
        if not started:
            return None
        raise Conflict("this booking is being paid", {"reason": "already_paying"})

    async def _settle_wallet(
        self, payment: store.GroupPayment, *, reserve: bool
    ) -> Conflict | None:
        """Under the group's lock: reserve the total (if ``reserve``; a retry reserves nothing
        twice), confirm every hold together, then post — or void and release. Repeats safely.
        Without ``reserve`` (the sweeper) a payment that reserved nothing is closed as
        ``unreserved``. Returns the refusal, if any."""
        tenant_id, group_id = payment.tenant_id, payment.group_id
        async with tenant_scope(self._db, tenant_id) as conn:
            await store.lock_group(conn, tenant_id=tenant_id, group_id=group_id)
            current = await store.get(conn, tenant_id=tenant_id, group_id=group_id)
            if (
                current is None
                or current.status != "pending"
                or current.method != "wallet"
                or current.idempotency_key != payment.idempotency_key
            ):
                if current is not None and current.status == "cancelled":
                    return _refused_before(current.reason)
                return None
            assert current.pending_id is not None
            view = await groups.group_view(conn, tenant_id=tenant_id, group_id=group_id)
            assert view is not None
            hold_ids = tuple(UUID(h["hold_id"]) for h in view["holds"])
            if current.amount_paise > 0:
                if reserve:
                    await self._reserve(current)
                else:
                    async with self._db.acquire() as plain:
                        reserved = await ledger_db.transfer_route(
                            plain, transfer_id=current.pending_id
                        )
                    if reserved is None:
                        await store.finish(
                            conn,
                            tenant_id=tenant_id,
                            group_id=group_id,
                            status="cancelled",
                            reason=UNRESERVED,
                        )
                        return None
            refused = await self._decide(conn, current, hold_ids, current.user_id)
            if current.amount_paise > 0:
                await self._finish_wallet(current.pending_id, booked=refused is None)
        return refused

    async def _close_unreserved(self, payment: store.GroupPayment) -> None:
        """A wallet payment that reserved nothing (the wallet was short) is closed, so the
        group can be paid again, with any key or method."""
        async with tenant_scope(self._db, payment.tenant_id) as conn:
            await store.lock_group(conn, tenant_id=payment.tenant_id, group_id=payment.group_id)
            await store.finish(
                conn,
                tenant_id=payment.tenant_id,
                group_id=payment.group_id,
                status="cancelled",
                reason=UNRESERVED,
            )

    async def _reserve(self, payment: store.GroupPayment) -> None:
        """The pending transfer of the group's total (InsufficientFunds: nothing reserved)."""
        assert payment.pending_id is not None
        wallet, payable = await self._wallets.wallet_and_payable(payment.tenant_id, payment.user_id)
        await self._wallets.apply(
            (
                TransferSpec(
                    payment.pending_id,
                    wallet,
                    payable,
                    payment.amount_paise,
                    code="group_payment",
                    pending=True,
                    timeout_secs=RESERVATION_SECS,
                    user_data={"group_id": str(payment.group_id)},
                ),
            )
        )

    # -- the sweeper ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            run_every(SWEEP_EVERY_SECS, self.sweep, "group payment sweep")
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def sweep(self, *, older_than_secs: float = SWEEP_AFTER_SECS) -> int:
        """Finish wallet payments a dead request left pending: a confirmed group gets its
        money posted, a group with a hold gone gets it voided (the rest released), a payment
        that reserved nothing is closed; a group still wholly held and live is left to its
        owner (its holds expire otherwise, and the next sweep voids). Returns how many
        payments it finished."""
        async with self._db.acquire() as conn:
            stuck = await store.stuck_wallet_payments(conn, older_than_secs=older_than_secs)
        finished = 0
        for tenant_id, group_id in stuck:
            try:
                async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
                    payment = await store.get(conn, tenant_id=tenant_id, group_id=group_id)
                    view = await groups.group_view(conn, tenant_id=tenant_id, group_id=group_id)
                if payment is None or view is None:
                    continue
                now = datetime.now(UTC)
                live = all(
                    h["status"] == "held" and datetime.fromisoformat(h["expires_at"]) > now
                    for h in view["holds"]
                )
                if live:
                    continue
                await self._settle_wallet(payment, reserve=False)
                finished += 1
            except SevaError as exc:
                log.warning("could not finish the payment of group %s: %s", group_id, exc)
        return finished

    async def _decide(
        self,
        conn: asyncpg.Connection,
        payment: store.GroupPayment,
        hold_ids: tuple[UUID, ...],
        user_id: UUID,
    ) -> Conflict | None:
        """Under the group's lock: confirm every hold through the tenant's actor, or release
        the live ones; record the outcome. Returns the refusal, if any (not raised: the
        record must commit)."""
        try:
            await self._shards.submit(ConfirmHoldGroupCommand(payment.tenant_id, hold_ids))
        except _CANNOT_BOOK as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            for hold_id in hold_ids:
                with contextlib.suppress(*_CANNOT_BOOK):  # confirmed elsewhere, or gone
                    await self._shards.execute(
                        ReleaseHoldCommand(payment.tenant_id, user_id, hold_id, True)
                    )
            await store.finish(
                conn,
                tenant_id=payment.tenant_id,
                group_id=payment.group_id,
                status="cancelled",
                reason=str(details.get("hold_id", "")) or None,
            )
            return _refusal(details.get("hold_id"), details.get("status"))
        await store.finish(
            conn, tenant_id=payment.tenant_id, group_id=payment.group_id, status="confirmed"
        )
        return None

    async def _finish_wallet(self, pending_id: str, *, booked: bool) -> None:
        spec: Any
        if booked:
            spec = PostSpec(f"{pending_id}:post", pending_id)
            fine = {"already_posted"}
        else:
            spec = VoidSpec(f"{pending_id}:void", pending_id)
            fine = {"already_voided", "already_expired"}
        try:
            await self._wallets.apply((spec,))
        except Conflict as exc:
            if (exc.details or {}).get("reason") not in fine:
                raise

    async def on_captured(
        self, intent: payment_store.Intent, _attempt: payment_store.Attempt
    ) -> str:
        """A gateway captured a group's payment (``PaymentService`` calls this once per
        capture, and again on its retries): confirm the group's holds together and book the
        money to the tenant, or refund it. Returns the intent's outcome."""
        found = group_of_intent_key(intent.idempotency_key)
        if found is None:
            booked = False
        else:
            group_id, _ = found
            booked = await self._on_captured(intent, group_id)
        await self._payments.finish_unlinked(
            intent.intent_id, booked=booked, refund_key="group_cancelled"
        )
        return "booking_confirmed" if booked else "refunded_unfulfillable"

    async def _on_captured(self, intent: payment_store.Intent, group_id: UUID) -> bool:
        tenant_id = intent.tenant_id
        async with tenant_scope(self._db, tenant_id) as conn:
            if not await store.lock_group(conn, tenant_id=tenant_id, group_id=group_id):
                return False
            payment = await store.get(conn, tenant_id=tenant_id, group_id=group_id)
            if (
                payment is None
                or payment.method != "gateway"
                or payment.intent_id != intent.intent_id
                or payment.status == "cancelled"
            ):
                return False  # replaced by another payment, or already refused: refund
            if payment.status == "confirmed":
                return True  # a repeated capture: booking it again is idempotent
            if intent.captured_paise != payment.amount_paise:
                await store.finish(
                    conn,
                    tenant_id=tenant_id,
                    group_id=group_id,
                    status="cancelled",
                    reason=AMOUNT_MISMATCH,
                )
                return False
            view = await groups.group_view(conn, tenant_id=tenant_id, group_id=group_id)
            assert view is not None
            hold_ids = tuple(UUID(h["hold_id"]) for h in view["holds"])
            refused = await self._decide(conn, payment, hold_ids, intent.user_id)
        return refused is None

    async def has_payment(self, tenant_id: UUID, group_id: UUID) -> bool:
        """Whether the group is paid or being paid as a whole (other ways of paying it must
        not take money twice)."""
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            payment = await store.get(conn, tenant_id=tenant_id, group_id=group_id)
        return payment is not None and payment.status != "cancelled"


def _refusal(hold_id: object = None, status: object = None) -> Conflict:
    details: dict[str, Any] = {"reason": "hold_unavailable"}
    if hold_id:
        details["hold_id"] = str(hold_id)
    if status:
        details["status"] = str(status)
    return Conflict("a hold of this booking could not be confirmed: nothing was paid", details)


def _refused_before(reason: str | None) -> Conflict:
    """The answer again for a payment refused earlier (its record's reason: the hold that
    could not be confirmed, or ``amount_mismatch``)."""
    if reason == AMOUNT_MISMATCH:
        return Conflict(
            "the gateway captured another amount: it was refunded", {"reason": AMOUNT_MISMATCH}
        )
    return _refusal(reason)


def _payment_view(payment: store.GroupPayment) -> dict[str, Any]:
    return {
        "method": payment.method,
        "status": payment.status,
        "amount_paise": payment.amount_paise,
        "idempotency_key": payment.idempotency_key,
        "payment_id": str(payment.intent_id) if payment.intent_id else None,
    }
