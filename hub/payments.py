"""Payments through Razorpay and Cashfree: intents, routed attempts with failover, captures
applied exactly once, refunds, and reconciliation.

An *intent* is what is paid for (a slot hold, or a wallet top-up); each *attempt* is one order
at one gateway (its id is our receipt/order id there, so creating it again is idempotent).
Gateways are tried cheapest-healthy first (:class:`GatewayRouter`); a failover makes a new
attempt on the next gateway only when the first could not have taken money (the order was
never handed to the customer).

Captures are forward-only and exactly once: the intent row is locked while its status moves
``created → captured`` (a late ``failed`` is ignored), and everything that follows — confirming
the hold, crediting the wallet, the ledger entries, an automatic refund — uses fixed ids, so
repeating it (duplicate webhooks, the checkout callback, reconciliation, a retry after a crash)
changes nothing. Every captured rupee ends as exactly one confirmed booking, one wallet credit,
or one refund (``outcome``).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from actors.commands import ConfirmHoldCommand, CreateHoldCommand, ReleaseHoldCommand
from actors.ledger import LedgerOp, TransferSpec
from actors.pool import ShardPool
from hub.auth import Principal
from hub.wallets import WalletService
from protocols.errors import (
    Conflict,
    Forbidden,
    GatewayRejected,
    GatewayUnavailable,
    Invalid,
    NotFound,
    PaymentDeclined,
    SevaError,
    Unavailable,
)
from protocols.gateways.fees import FeeSchedule
from protocols.gateways.interface import (
    OrderRequest,
    PaymentGateway,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
)
from protocols.gateways.routing import GatewayRouter, RoutingPolicy, plan
from storage import hold_payments as hold_store
from storage import ledger as ledger_db
from storage import payments as store
from storage import splits as split_store
from storage import tenants
from storage.hold_pay_lock import lock_hold_payment
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

RECONCILE_LOCK_KEY = 0x5E7A_0005
FALLBACK_PHONE = "9999999999"  # Cashfree insists on one; users without a phone get this


class TenantGatewayLike(Protocol):
    name: str
    fees: FeeSchedule
    adapter: PaymentGateway
    key_id: str


class GatewaySource(Protocol):
    """Where a tenant's configured gateways come from (``hub.gateway_directory``)."""

    async def gateways_for(self, tenant_id: UUID) -> Sequence[TenantGatewayLike]: ...


@dataclass(frozen=True)
class Checkout:
    gateway: str
    gateway_order_id: str
    attempt_id: UUID
    amount_paise: int
    checkout_token: str | None


class PaymentService:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        shards: ShardPool,
        wallets: WalletService,
        gateways: GatewaySource,
        router: GatewayRouter,
        observe_route: Callable[[str, str], None] | None = None,
    ) -> None:
        """``observe_route(gateway, reason)`` (optional) is told each gateway attempt the
        router chose (reason: ``pin``, ``split``, ``cheapest``, ``health``)."""
        self._db = db
        self._observe_route = observe_route
        self._shards = shards
        self._wallets = wallets
        self._gateways = gateways
        self._router = router
        # Set by hub.splits: what a captured ``split_share`` payment becomes (an outcome, or
        # None while its split still waits for other shares).
        self.split_share_captured: (
            Callable[[store.Intent, store.Attempt], Awaitable[str | None]] | None
        ) = None
        # Set by hub.group_payments: what a captured ``booking_group`` payment becomes (it
        # saves the outcome itself: confirmed, or refunded).
        self.booking_group_captured: (
            Callable[[store.Intent, store.Attempt], Awaitable[str]] | None
        ) = None

    # -- starting a payment --------------------------------------------------------------------

    async def create(
        self,
        principal: Principal,
        *,
        purpose: str,
        hold_id: UUID | None,
        amount_paise: int | None,
        idempotency_key: str,
        wallet_ref: UUID | None = None,
    ) -> dict[str, Any]:
        """An intent and an open gateway order for it (the same ones again for the same key)."""
        tenant_id = _tenant(principal)
        wallet_id = None
        if purpose == "hold":
            if hold_id is None:
                raise Invalid("a hold payment names the hold in ref")
            async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
                found = await hold_store.hold_for_payment(
                    conn, tenant_id=tenant_id, hold_id=hold_id
                )
            if found is None or found.user_id != principal.user_id:
                raise NotFound("no such hold", {"hold_id": str(hold_id)})
            status, amount = found.status, found.amount_paise
            if amount_paise is not None and amount_paise != amount:
                raise Invalid(
                    "amount_paise disagrees with the hold's price",
                    {"amount_paise": amount, "reason": "amount_mismatch"},
                )
            if status != "held":
                raise Conflict(f"hold is {status}", {"status": status})
            if amount <= 0:
                raise Conflict("this hold is free: confirm it without paying")
        else:
            if amount_paise is None:
                raise Invalid("a wallet top-up names amount_paise")
            amount = amount_paise
            async with self._db.acquire() as conn:
                wallet_id = await ledger_db.ensure_account(
                    conn,
                    code="user_wallet",
                    currency="INR",
                    tenant_id=tenant_id,
                    owner_user_id=principal.user_id,
                    limited=True,
                )
            if wallet_ref is not None and wallet_ref != wallet_id:
                raise NotFound("no such wallet of yours", {"ref": str(wallet_ref)})
        async with self._db.acquire() as conn, conn.transaction():
            if hold_id is not None:
                # Checked and recorded under the hold's payment lock (storage/hold_pay_lock.py):
                # a split of this hold cannot be made in between.
                await lock_hold_payment(conn, hold_id=hold_id)
                if await split_store.has_live_split(conn, hold_id=hold_id):
                    raise Conflict("this hold is paid in shares", {"reason": "split"})
            intent = await store.create_intent(
                conn,
                intent_id=uuid.uuid4(),
                tenant_id=tenant_id,
                user_id=principal.user_id,
                purpose=purpose,
                hold_id=hold_id,
                wallet_id=wallet_id,
                amount_paise=amount,
                idempotency_key=idempotency_key,
            )
            attempts = await store.attempts_of(conn, intent_id=intent.intent_id)
        if (intent.purpose, intent.hold_id, intent.amount_paise) != (purpose, hold_id, amount):
            raise Conflict(
                "idempotency key was already used for a different payment",
                {"reason": "exists_with_different_fields", "payment_id": str(intent.intent_id)},
            )
        open_attempt = next((a for a in attempts if a.status in ("open", "paid")), None)
        if intent.status == "created" and open_attempt is None:
            await self._open_attempt(intent, principal)
        return await self.view(intent.intent_id)

    async def _open_attempt(self, intent: store.Intent, principal: Principal) -> Checkout:
        configured = {g.name: g for g in await self._gateways.gateways_for(intent.tenant_id)}
        if not configured:
            # Not a transient failure a client should retry: the tenant must configure one.
            raise Conflict(
                "this tenant has no payment gateway configured",
                {"reason": "no_gateway_configured"},
            )
        async with self._db.acquire() as conn:
            policy = _policy(await tenants.payment_routing(conn, tenant_id=intent.tenant_id))
        steps = plan(
            self._router,
            policy,
            amount_paise=intent.amount_paise,
            gateways=list(configured),
            bucket=intent.intent_id.int % 100,
            now=time.time(),
        )
        last_error: SevaError | None = None
        for name, reason in steps:
            gateway = configured[name]
            if self._observe_route is not None:
                self._observe_route(name, reason)
            attempt_id = uuid.uuid4()
            async with self._db.acquire() as conn:
                await store.insert_attempt(
                    conn,
                    attempt_id=attempt_id,
                    intent=intent,
                    gateway=name,
                    fee_paise=gateway.fees.fee_paise(intent.amount_paise),
                    key_id=gateway.key_id or None,
                    route_reason=reason,
                )
            self._router.started(name, time.time())
            try:
                created = await gateway.adapter.create_order(
                    OrderRequest(
                        attempt_id=attempt_id.hex,
                        amount_paise=intent.amount_paise,
                        customer_id=principal.user_id.hex,
                        customer_phone=FALLBACK_PHONE,
                        notes={"payment_id": str(intent.intent_id)},
                    )
                )
            except (GatewayUnavailable, GatewayRejected) as exc:
                # No order reached the customer, so no money can have been taken: try the next.
                self._router.record(name, ok=isinstance(exc, GatewayRejected), now=time.time())
                async with self._db.acquire() as conn:
                    await store.update_attempt(
                        conn, attempt_id=attempt_id, status="error", error=exc.message[:500]
                    )
                last_error = exc
                log.warning("gateway %s failed to create an order: %s", name, exc)
                continue
            self._router.record(name, ok=True, now=time.time())
            async with self._db.acquire() as conn:
                await store.update_attempt(
                    conn,
                    attempt_id=attempt_id,
                    status="open",
                    gateway_order_id=created.gateway_order_id,
                    checkout_token=created.checkout_token,
                )
            return Checkout(
                name,
                created.gateway_order_id,
                attempt_id,
                intent.amount_paise,
                created.checkout_token,
            )
        raise GatewayUnavailable("no payment gateway could take this payment; retry") from (
            last_error
        )

    async def view(self, intent_id: UUID, principal: Principal | None = None) -> dict[str, Any]:
        async with self._db.acquire() as conn:
            intent = await store.get_intent(conn, intent_id=intent_id)
            if intent is None or (principal is not None and not _may_see(principal, intent)):
                raise NotFound("no such payment", {"payment_id": str(intent_id)})
            attempts = await store.attempts_of(conn, intent_id=intent_id)
            refunds = await store.refunds_of(conn, intent_id=intent_id)
        live = next((a for a in reversed(attempts) if a.status in ("open", "paid")), None)
        return {
            "payment_id": str(intent.intent_id),
            "purpose": intent.purpose,
            "hold_id": str(intent.hold_id) if intent.hold_id else None,
            "amount_paise": intent.amount_paise,
            "status": intent.status,
            "outcome": intent.outcome,
            "captured_paise": intent.captured_paise,
            "refunded_paise": intent.refunded_paise,
            "gateway": live.gateway if live else None,
            "fee_paise": live.fee_paise if live else None,
            "checkout": _checkout_of(live, intent.amount_paise) if live else None,
            "attempts": [
                {
                    "attempt_id": str(a.attempt_id),
                    "gateway": a.gateway,
                    "status": a.status,
                    "gateway_order_id": a.gateway_order_id,
                    "fee_paise": a.fee_paise,
                    "route_reason": a.route_reason,
                }
                for a in attempts
            ],
            "refunds": [
                {
                    "refund_id": str(r.refund_id),
                    "amount_paise": r.amount_paise,
                    "status": r.status,
                    "reason": r.reason,
                }
                for r in refunds
            ],
        }

    # -- the checkout callback -----------------------------------------------------------------

    async def verify_checkout(
        self,
        principal: Principal,
        intent_id: UUID,
        *,
        gateway_order_id: str,
        gateway_payment_id: str,
        signature: str,
    ) -> dict[str, Any]:
        """Razorpay's checkout handler: the signature must match the order id *we* stored."""
        async with self._db.acquire() as conn:
            intent = await store.get_intent(conn, intent_id=intent_id)
            attempts = await store.attempts_of(conn, intent_id=intent_id) if intent else []
        if intent is None or not _may_see(principal, intent):
            raise NotFound("no such payment", {"payment_id": str(intent_id)})
        attempt = next((a for a in attempts if a.gateway_order_id == gateway_order_id), None)
        if attempt is None:
            raise Invalid("this order does not belong to this payment")
        adapter = await self._adapter(intent.tenant_id, attempt.gateway)
        adapter.verify_checkout_signature(
            gateway_order_id=gateway_order_id,
            gateway_payment_id=gateway_payment_id,
            signature=signature,
        )
        await self.settle_from_gateway(intent.tenant_id, attempt)
        return await self.view(intent_id)

    async def settle_from_gateway(self, tenant_id: UUID, attempt: store.Attempt) -> str | None:
        """Ask the gateway what happened to an attempt's order and apply it."""
        if attempt.gateway_order_id is None:
            return None
        adapter = await self._adapter(tenant_id, attempt.gateway)
        payments = await adapter.fetch_payments(attempt.gateway_order_id)
        captured = [p for p in payments if p.status is PaymentStatus.CAPTURED]
        if captured:
            return await self.on_captured(
                attempt.gateway, attempt.gateway_order_id, captured[0].amount_paise
            )
        order = await adapter.fetch_order(attempt.gateway_order_id)
        if order.status.value in ("failed", "expired") or (
            payments
            and all(p.status is PaymentStatus.FAILED for p in payments)
            and order.status.value != "paid"
        ):
            return await self.on_failed(attempt.gateway, attempt.gateway_order_id)
        return None

    # -- applying gateway outcomes (webhooks, callback, reconciliation) ------------------------

    async def on_captured(self, gateway: str, gateway_order_id: str, amount_paise: int) -> str:
        """Apply a capture, exactly once; returns the intent's outcome."""
        async with self._db.acquire() as conn, conn.transaction():
            attempt = await store.attempt_by_order(
                conn, gateway=gateway, gateway_order_id=gateway_order_id
            )
            if attempt is None:
                raise NotFound("no payment attempt for this order", {"order": gateway_order_id})
            intent = await store.get_intent(conn, intent_id=attempt.intent_id, for_update=True)
            assert intent is not None
            if intent.status == "captured" and intent.captured_attempt_id != attempt.attempt_id:
                duplicate = True
            else:
                duplicate = False
                if intent.status != "captured":
                    await store.mark_captured(
                        conn,
                        intent_id=intent.intent_id,
                        attempt_id=attempt.attempt_id,
                        amount_paise=amount_paise,
                    )
            intent = await store.get_intent(conn, intent_id=attempt.intent_id)
            assert intent is not None
        if duplicate:
            # The customer paid twice (two attempts): give the second payment back.
            await self._refund_attempt(
                intent, attempt, amount_paise, key=f"dup:{attempt.attempt_id}"
            )
            return "refunded_duplicate"
        return await self._fulfil(intent)

    async def on_failed(self, gateway: str, gateway_order_id: str) -> str:
        """A failed payment releases the hold — unless the intent was captured (late event)."""
        async with self._db.acquire() as conn, conn.transaction():
            attempt = await store.attempt_by_order(
                conn, gateway=gateway, gateway_order_id=gateway_order_id
            )
            if attempt is None:
                raise NotFound("no payment attempt for this order", {"order": gateway_order_id})
            intent = await store.get_intent(conn, intent_id=attempt.intent_id, for_update=True)
            assert intent is not None
            if intent.status == "captured":
                return "ignored_after_capture"
            if attempt.status != "paid":
                await store.update_attempt(conn, attempt_id=attempt.attempt_id, status="failed")
            await store.mark_failed(conn, intent_id=intent.intent_id)
        if intent.purpose == "hold" and intent.hold_id is not None:
            with contextlib.suppress(Conflict):  # confirmed or gone already
                await self._shards.execute(
                    ReleaseHoldCommand(intent.tenant_id, intent.user_id, intent.hold_id, True)
                )
        return "failed"

    async def _fulfil(self, intent: store.Intent) -> str:
        if intent.outcome is not None:
            return intent.outcome
        async with self._db.acquire() as conn:
            attempts = await store.attempts_of(conn, intent_id=intent.intent_id)
        attempt = next(a for a in attempts if a.attempt_id == intent.captured_attempt_id)
        if intent.purpose == "split_share":
            if self.split_share_captured is None:
                raise Unavailable("split payments are not running in this hub")
            decided = await self.split_share_captured(intent, attempt)
            # Decided later, when the split confirms or is cancelled (finish_split_share).
            return decided or "split_share_paid"
        if intent.purpose == "booking_group":
            if self.booking_group_captured is None:
                raise Unavailable("devotional group payments are not running in this hub")
            return await self.booking_group_captured(intent, attempt)
        if intent.purpose == "wallet_topup":
            outcome = await self._credit_wallet(intent, attempt)
        else:
            outcome = await self._confirm_booking(intent, attempt)
        async with self._db.acquire() as conn:
            await store.set_outcome(conn, intent_id=intent.intent_id, outcome=outcome)
        return outcome

    # -- split shares (hub/splits.py) ----------------------------------------------------------

    async def create_split_share(
        self, principal: Principal, *, amount_paise: int, idempotency_key: str
    ) -> dict[str, Any]:
        """An intent with purpose ``split_share`` and an open gateway order (the same again for
        the same key). Its capture stays in gateway clearing until the split is decided."""
        return await self.create_unlinked(
            principal,
            purpose="split_share",
            amount_paise=amount_paise,
            idempotency_key=idempotency_key,
        )

    async def create_unlinked(
        self, principal: Principal, *, purpose: str, amount_paise: int, idempotency_key: str
    ) -> dict[str, Any]:
        """An intent tied to no single hold (``split_share``, ``booking_group``: its owner
        reads what it pays for from the key) and an open gateway order, routed like any
        payment; the same again for the same key. Its capture stays in gateway clearing until
        the owner books it (:meth:`finish_unlinked`)."""
        tenant_id = _tenant(principal)
        async with self._db.acquire() as conn:
            intent = await store.create_intent(
                conn,
                intent_id=uuid.uuid4(),
                tenant_id=tenant_id,
                user_id=principal.user_id,
                purpose=purpose,
                hold_id=None,
                wallet_id=None,
                amount_paise=amount_paise,
                idempotency_key=idempotency_key,
            )
            attempts = await store.attempts_of(conn, intent_id=intent.intent_id)
        if (intent.purpose, intent.amount_paise) != (purpose, amount_paise):
            raise Conflict(
                "idempotency key was already used for a different payment",
                {"reason": "exists_with_different_fields", "payment_id": str(intent.intent_id)},
            )
        open_attempt = next((a for a in attempts if a.status in ("open", "paid")), None)
        if intent.status == "created" and open_attempt is None:
            await self._open_attempt(intent, principal)
        return await self.view(intent.intent_id)

    async def finish_split_share(self, intent_id: UUID, *, booked: bool) -> None:
        """A captured share's money: booked to the tenant (gateway clearing → payable, net of
        the fee) when its split confirmed, else refunded at the gateway. Idempotent."""
        await self.finish_unlinked(intent_id, booked=booked, refund_key="split_cancelled")

    async def finish_unlinked(self, intent_id: UUID, *, booked: bool, refund_key: str) -> None:
        """A captured unlinked intent's money: booked to the tenant (gateway clearing →
        payable, net of the fee; outcome ``booking_confirmed``) or refunded at the gateway
        (``<refund_key>:<intent_id>``, outcome ``refunded_unfulfillable``). Idempotent."""
        async with self._db.acquire() as conn:
            intent = await store.get_intent(conn, intent_id=intent_id)
            attempts = await store.attempts_of(conn, intent_id=intent_id)
        if intent is None or intent.status != "captured" or intent.outcome is not None:
            return
        attempt = next(a for a in attempts if a.attempt_id == intent.captured_attempt_id)
        if booked:
            await self._book_capture(intent, attempt)
            async with self._db.acquire() as conn:
                await store.set_outcome(
                    conn, intent_id=intent.intent_id, outcome="booking_confirmed"
                )
        else:
            await self._refund_attempt(
                intent,
                attempt,
                intent.captured_paise,
                key=f"{refund_key}:{intent.intent_id}",
                outcome="refunded_unfulfillable",
            )

    async def _confirm_booking(self, intent: store.Intent, attempt: store.Attempt) -> str:
        assert intent.hold_id is not None
        hold_id = intent.hold_id
        try:
            await self._shards.execute(ConfirmHoldCommand(intent.tenant_id, hold_id))
        except _CANNOT_BOOK:
            # The hold expired or was released before the money came: hold again if places
            # remain (same slot, same quantity), else give the money back.
            async with self._db.acquire() as conn:
                found = await hold_store.hold_for_payment(
                    conn, tenant_id=intent.tenant_id, hold_id=hold_id
                )
            assert found is not None
            slot_id, qty = found.slot_id, found.qty
            try:
                again = await self._shards.execute(
                    CreateHoldCommand(
                        intent.tenant_id, intent.user_id, slot_id, qty, f"repay:{intent.intent_id}"
                    )
                )
                await self._shards.execute(ConfirmHoldCommand(intent.tenant_id, again.hold_id))
            except _CANNOT_BOOK:
                await self._book_capture(intent, attempt)
                # The outcome is decided and saved with the refund row, before the gateway is
                # called: a retry must resend this refund, never book a place that came free.
                await self._refund_attempt(
                    intent,
                    attempt,
                    intent.captured_paise,
                    key=f"unfulfillable:{intent.intent_id}",
                    outcome="refunded_unfulfillable",
                )
                return "refunded_unfulfillable"
        await self._book_capture(intent, attempt)
        return "booking_confirmed"

    async def _book_capture(self, intent: store.Intent, attempt: store.Attempt) -> None:
        """Gateway clearing → tenant payable (net of the fee) and → gateway fees."""
        async with self._db.acquire() as conn:
            clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
            payable = await ledger_db.ensure_account(
                conn, code="tenant_payable", currency="INR", tenant_id=intent.tenant_id
            )
            fees = await ledger_db.ensure_account(conn, code="gateway_fees", currency="INR")
        fee = min(attempt.fee_paise, intent.captured_paise)
        ops: list[LedgerOp] = []
        if intent.captured_paise - fee > 0:
            ops.append(
                TransferSpec(
                    f"pay:{intent.intent_id}:net",
                    clearing,
                    payable,
                    intent.captured_paise - fee,
                    code="payment_captured",
                )
            )
        if fee > 0:
            ops.append(
                TransferSpec(f"pay:{intent.intent_id}:fee", clearing, fees, fee, code="gateway_fee")
            )
        if ops:
            await self._wallets.apply(tuple(ops))

    async def _credit_wallet(self, intent: store.Intent, attempt: store.Attempt) -> str:
        assert intent.wallet_id is not None
        async with self._db.acquire() as conn:
            clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
            revenue = await ledger_db.ensure_account(conn, code="platform_revenue", currency="INR")
            fees = await ledger_db.ensure_account(conn, code="gateway_fees", currency="INR")
        await self._wallets.apply(
            (
                TransferSpec(
                    f"pay:{intent.intent_id}:topup",
                    clearing,
                    intent.wallet_id,
                    intent.captured_paise,
                    code="wallet_topup",
                ),
            )
        )
        if attempt.fee_paise > 0:
            # The platform bears the gateway's fee on top-ups: the wallet gets every rupee.
            await self._wallets.apply(
                (
                    TransferSpec(
                        f"pay:{intent.intent_id}:fee",
                        revenue,
                        fees,
                        attempt.fee_paise,
                        code="gateway_fee",
                    ),
                )
            )
        return "wallet_credited"

    # -- refunds -------------------------------------------------------------------------------

    async def refund(
        self,
        principal: Principal,
        intent_id: UUID,
        *,
        amount_paise: int | None,
        reason: str,
        idempotency_key: str,
        as_system: bool = False,
    ) -> dict[str, Any]:
        """Refund (part of) a captured payment on the gateway that captured it. The cap is
        captured minus refunded; the same key returns the same refund. ``as_system``: the hub
        itself refunds for the caller (a cancellation by the booker), whatever their role."""
        async with self._db.acquire() as conn, conn.transaction():
            intent = await store.get_intent(conn, intent_id=intent_id, for_update=True)
            allowed = intent is not None and (
                principal.may_act_in(intent.tenant_id)
                if not as_system
                else principal.tenant_id == intent.tenant_id
            )
            if intent is None or not allowed:
                raise NotFound("no such payment", {"payment_id": str(intent_id)})
            existing = {
                r.idempotency_key: r for r in await store.refunds_of(conn, intent_id=intent_id)
            }
            prior = existing.get(idempotency_key)
            if prior is None:
                if intent.purpose == "wallet_topup":
                    # The money is in the wallet now; giving it back to the card too would
                    # pay it out twice.
                    raise Conflict(
                        "a wallet top-up is not refunded to the card",
                        {"reason": "topup_not_refundable"},
                    )
                if intent.status != "captured":
                    raise Conflict(
                        "only a captured payment can be refunded", {"status": intent.status}
                    )
                left = intent.captured_paise - intent.refunded_paise
                amount = left if amount_paise is None else amount_paise
                if amount <= 0 or amount > left:
                    raise Conflict(
                        "refund exceeds what was captured and not yet refunded",
                        {"reason": "exceeds_captured", "refundable_paise": left},
                    )
            else:
                amount = prior.amount_paise
                if amount_paise is not None and amount_paise != prior.amount_paise:
                    raise Conflict(
                        "idempotency key was already used for a different refund",
                        {"reason": "exists_with_different_amount"},
                    )
            refund, _made = await store.insert_refund(
                conn,
                refund_id=uuid.uuid4(),
                intent=intent,
                amount_paise=amount,
                reason=reason,
                idempotency_key=idempotency_key,
            )
            attempts = await store.attempts_of(conn, intent_id=intent_id)
        attempt = next(a for a in attempts if a.attempt_id == intent.captured_attempt_id)
        await self._send_refund(intent, attempt, refund)
        return await self.view(intent_id)

    async def _refund_attempt(
        self,
        intent: store.Intent,
        attempt: store.Attempt,
        amount: int,
        *,
        key: str,
        outcome: str | None = None,
    ) -> None:
        async with self._db.acquire() as conn, conn.transaction():
            locked = await store.get_intent(conn, intent_id=intent.intent_id, for_update=True)
            assert locked is not None
            existing = {
                r.idempotency_key: r
                for r in await store.refunds_of(conn, intent_id=intent.intent_id)
            }
            refund = existing.get(key)
            if refund is None:
                if key.startswith("dup:"):
                    # A second capture is not counted in captured_paise: count it now.
                    await conn.execute(
                        "UPDATE payment_intents SET captured_paise = captured_paise + $2 "
                        "WHERE id = $1",
                        intent.intent_id,
                        amount,
                    )
                refund, _ = await store.insert_refund(
                    conn,
                    refund_id=uuid.uuid4(),
                    intent=locked,
                    amount_paise=amount,
                    reason="automatic",
                    idempotency_key=key,
                )
            if outcome is not None:
                await store.set_outcome(conn, intent_id=intent.intent_id, outcome=outcome)
        await self._send_refund(intent, attempt, refund)

    async def _send_refund(
        self, intent: store.Intent, attempt: store.Attempt, refund: store.Refund
    ) -> None:
        """Send one refund to the gateway, at most once at a time per payment.

        Razorpay does not deduplicate refunds by our id, so two senders could each create one:
        a PostgreSQL advisory lock per payment serializes senders across hub processes, and the
        refund's state is read again under it. A refund the gateway refuses or fails is
        un-counted (``refunded_paise``) so the money can be refunded again; one that could not
        be sent (gateway down) stays ``requested`` for the sweeper. The ledger moves only for a
        refund the gateway accepted.
        """
        lock_key = _advisory_key(intent.intent_id)
        async with self._db.acquire() as lock_conn:
            await lock_conn.execute("SELECT pg_advisory_lock($1)", lock_key)
            try:
                current = await store.get_refund(lock_conn, refund_id=refund.refund_id)
                if current is None or current.status != "requested":
                    return
                await self._send_refund_locked(intent, attempt, current)
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", lock_key)

    async def _send_refund_locked(
        self, intent: store.Intent, attempt: store.Attempt, refund: store.Refund
    ) -> None:
        adapter = await self._adapter(intent.tenant_id, attempt.gateway)
        assert attempt.gateway_order_id is not None
        payments = await adapter.fetch_payments(attempt.gateway_order_id)
        captured = next((p for p in payments if p.status is PaymentStatus.CAPTURED), None)
        if captured is None:
            raise Conflict("the gateway has no captured payment for this order")
        try:
            done = await adapter.refund(
                RefundRequest(
                    refund_id=refund.refund_id.hex,
                    gateway_order_id=attempt.gateway_order_id,
                    gateway_payment_id=captured.gateway_payment_id,
                    amount_paise=refund.amount_paise,
                    # Cashfree wants a note of at least 3 characters.
                    note=(refund.reason or "refund")[:200].ljust(3, "."),
                )
            )
        except (GatewayRejected, PaymentDeclined):
            async with self._db.acquire() as conn:
                await store.fail_refund(conn, refund=refund)
            raise
        if done.status is RefundStatus.FAILED:
            async with self._db.acquire() as conn:
                await store.fail_refund(conn, refund=refund)
            return
        status = "processed" if done.status is RefundStatus.PROCESSED else "pending"
        async with self._db.acquire() as conn:
            await store.update_refund(
                conn,
                refund_id=refund.refund_id,
                status=status,
                gateway_refund_id=done.gateway_refund_id,
            )
            clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
            payable = await ledger_db.ensure_account(
                conn, code="tenant_payable", currency="INR", tenant_id=intent.tenant_id
            )
        # Only money that reached the tenant's payable comes back out of it: a booking's
        # payment, or a split share booked when its split confirmed. A duplicate capture was
        # never booked to the tenant, and a top-up is not refundable here.
        booked_to_tenant = intent.purpose == "hold" or (
            intent.purpose in ("split_share", "booking_group")
            and intent.outcome == "booking_confirmed"
        )
        if booked_to_tenant and not refund.idempotency_key.startswith("dup:"):
            # The tenant gives the money back; the gateway's fee is not returned.
            await self._wallets.apply(
                (
                    TransferSpec(
                        f"refund:{refund.refund_id}",
                        payable,
                        clearing,
                        refund.amount_paise,
                        code="payment_refunded",
                    ),
                )
            )

    async def resend_refunds(self, *, older_than_secs: float) -> int:
        """Refunds counted but not yet accepted by a gateway (it was down): try again."""
        async with self._db.acquire() as conn:
            waiting = await store.unsent_refunds(conn, older_than_secs=older_than_secs)
        sent = 0
        for refund in waiting:
            async with self._db.acquire() as conn:
                intent = await store.get_intent(conn, intent_id=refund.intent_id)
                attempts = await store.attempts_of(conn, intent_id=refund.intent_id)
            if intent is None:
                continue
            attempt = next((a for a in attempts if a.status == "paid"), None)
            if attempt is None:
                continue
            try:
                await self._send_refund(intent, attempt, refund)
                sent += 1
            except SevaError as exc:
                log.warning("refund %s not sent yet: %s", refund.refund_id, exc)
        return sent

    # -- reconciliation ------------------------------------------------------------------------

    async def reconcile_once(self, *, older_than_secs: float = 120.0) -> int:
        """Poll the gateways for intents waiting too long and apply what really happened; one
        runner at a time across hub processes (advisory lock). Returns how many changed."""
        async with self._db.acquire() as lock_conn:
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", RECONCILE_LOCK_KEY):
                return 0
            try:
                return await self._reconcile(older_than_secs)
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock($1)", RECONCILE_LOCK_KEY)

    async def _reconcile(self, older_than_secs: float) -> int:
        changed = await self.resend_refunds(older_than_secs=older_than_secs)
        async with self._db.acquire() as conn:
            stale = await store.stale_intents(conn, older_than_secs=older_than_secs)
        for intent in stale:
            try:
                if intent.status == "captured":
                    await self._fulfil(intent)
                    changed += 1
                    continue
                async with self._db.acquire() as conn:
                    attempts = await store.attempts_of(conn, intent_id=intent.intent_id)
                for attempt in attempts:
                    if attempt.status == "open":
                        outcome = await self.settle_from_gateway(intent.tenant_id, attempt)
                        if outcome is not None:
                            changed += 1
                            break
            except SevaError as exc:
                log.warning("reconciling payment %s: %s", intent.intent_id, exc)
        return changed

    async def adapter_for(self, tenant_id: UUID, gateway: str) -> PaymentGateway:
        """NotFound if the tenant has not configured (or disabled) this gateway."""
        for configured in await self._gateways.gateways_for(tenant_id):
            if configured.name == gateway:
                return configured.adapter
        raise NotFound(f"{gateway} is not configured for this tenant")

    async def _adapter(self, tenant_id: UUID, gateway: str) -> PaymentGateway:
        try:
            return await self.adapter_for(tenant_id, gateway)
        except NotFound as exc:
            raise Unavailable(f"{gateway} is not configured for this tenant any more") from exc

    async def apply_event(self, tenant_id: UUID, gateway: str, gateway_order_id: str) -> str:
        """A webhook said something happened to an order: fetch the truth and apply it."""
        async with self._db.acquire() as conn:
            attempt = await store.attempt_by_order(
                conn, gateway=gateway, gateway_order_id=gateway_order_id
            )
        if attempt is None or attempt.tenant_id != tenant_id:
            return "unknown_order"
        return await self.settle_from_gateway(tenant_id, attempt) or "no_change"


# What the inventory actor answers when a booking cannot be had (taken, expired, over the plan's
# limit, slot gone): the money goes back. Unavailable is not here: that is retried.
_CANNOT_BOOK = (Conflict, Forbidden, NotFound)


def _advisory_key(intent_id: UUID) -> int:
    """A signed 64-bit advisory-lock key for one payment."""
    return (intent_id.int >> 64) - (1 << 63)


def _checkout_of(attempt: store.Attempt, amount_paise: int) -> dict[str, Any]:
    """What the app's checkout needs, in the gateway's own terms."""
    if attempt.gateway == "razorpay":
        details = {
            "key_id": attempt.key_id,
            "order_id": attempt.gateway_order_id,
            "amount": amount_paise,
        }
    else:
        details = {
            "payment_session_id": attempt.checkout_token,
            "order_id": attempt.gateway_order_id,
        }
    return {attempt.gateway: details, "attempt_id": str(attempt.attempt_id)}


def _policy(raw: dict[str, Any]) -> RoutingPolicy:
    weights = raw.get("weights") or {}
    return RoutingPolicy(
        mode=str(raw.get("mode", "cheapest")),
        gateway=raw.get("gateway"),
        weights=tuple((str(k), int(v)) for k, v in weights.items()),
    )


def _tenant(principal: Principal) -> UUID:
    if principal.tenant_id is None:
        raise Invalid("payments are made by a tenant's users")
    return principal.tenant_id


def _may_see(principal: Principal, intent: store.Intent) -> bool:
    return intent.user_id == principal.user_id or principal.is_staff_of(intent.tenant_id)
