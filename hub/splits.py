"""Split payments: a court hold paid in shares by up to four players.

The booker holds the court and invites up to three players of the tenant; each share is equal
integer paise, the remainder on the booker's (``protocols.padel.split_amounts``). A player pays
their share from their INR wallet (a *pending* ledger transfer to the tenant's payable) or at a
gateway (a payment intent with purpose ``split_share`` whose capture stays in gateway clearing).

The steps span the tenant's actor, the wallet actors and the gateways, so they are a saga whose
lock is the ``split_payments`` row (``SELECT ... FOR UPDATE``), held across each step:

- paying a share takes the lock, checks the split is ``open`` and not past its hold's expiry,
  reserves the money (fixed ids: a retry reserves nothing twice) and marks the share ``paid``;
  the last share moves the split to ``confirming``;
- confirming takes the lock and asks the tenant's actor to confirm the hold, once. The actor
  alone decides whether the hold was still live: ``confirmed`` (then every pending transfer is
  posted and every gateway capture booked to the tenant) or ``cancelling`` (then every paid
  share is voided or refunded at its gateway);
- a sweeper in every hub cancels open splits whose hold expired or was released, and finishes
  whatever a crash left between steps.

A share that pays while the split is cancelled (a late gateway capture) is refunded at once.
So every rupee ends as part of exactly one booking or goes back to its payer.
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
from hub.background import cancel_and_wait, run_every
from hub.payments import PaymentService
from hub.wallets import WalletService
from protocols.errors import Conflict, Forbidden, Invalid, NotFound, SevaError
from protocols.padel import CreateSplit, PayShare, split_amounts
from storage import feeds
from storage import hold_payments as hold_store
from storage import payments as payment_store
from storage import splits as store
from storage.hold_pay_lock import lock_hold_payment
from storage.notifications import enqueue
from storage.tenancy import enter_tenant_scope, tenant_scope

log = logging.getLogger(__name__)

SPLIT_EVENT = "split:updated"
# A share's reservation outlives the hold by this much, so it is never released under a split
# that is being confirmed; a cancelled split voids it explicitly.
RESERVATION_MARGIN_SECS = 3600
SHARE_KEY_PREFIX = "split:"
_CANNOT_BOOK = (Conflict, Forbidden, NotFound)


def share_intent_key(hold_id: UUID, idempotency_key: str) -> str:
    """A share's payment intent key; the hold it pays for is read back from it on capture."""
    return f"{SHARE_KEY_PREFIX}{hold_id}:{idempotency_key}"


def hold_of_intent_key(key: str) -> UUID | None:
    if not key.startswith(SHARE_KEY_PREFIX):
        return None
    try:
        return UUID(key[len(SHARE_KEY_PREFIX) :].split(":", 1)[0])
    except ValueError:
        return None


class SplitPayments:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        shards: ShardPool,
        wallets: WalletService,
        payments: PaymentService,
        sweep_every_secs: float,
    ) -> None:
        self._db = db
        self._shards = shards
        self._wallets = wallets
        self._payments = payments
        self._sweep_every = sweep_every_secs
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- creating ------------------------------------------------------------------------------

    async def create(
        self, principal: Principal, hold_id: UUID, request: CreateSplit
    ) -> tuple[dict[str, Any], bool]:
        """Split the caller's live hold with the invited players; the same key answers the
        same split (False). Raises NotFound (not the caller's hold, unknown players), Invalid
        (the booker or a player twice), Conflict (hold not live, already paid whole, split
        with another key)."""
        tenant_id = _tenant(principal)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            hold = await hold_store.hold_for_payment(conn, tenant_id=tenant_id, hold_id=hold_id)
            if hold is None or hold.user_id != principal.user_id:
                raise NotFound("no such hold", {"hold_id": str(hold_id)})
            found = await store.resolve_players(
                conn,
                tenant_id=tenant_id,
                user_ids=request.player_user_ids,
                phones=request.phones,
                emails=request.emails,
            )
        if any(u is None for u in found):
            missing = [i for i, u in enumerate(found) if u is None]
            raise NotFound("no such player in this tenant", {"players": missing})
        players = [u for u in found if u is not None]
        if principal.user_id in players or len(set(players)) != len(players):
            raise Invalid("each player once, and not the booker", {"reason": "duplicate_player"})
        amounts = split_amounts(hold.amount_paise, len(players) + 1)
        # One transaction takes the hold's payment lock, checks the whole-hold payments (their
        # tables are not tenant-scoped), then scopes itself to the tenant and records the
        # split: a payment of the whole hold cannot be recorded in between
        # (storage/hold_pay_lock.py). One connection only, so lock holders never wait for the
        # pool.
        async with self._db.acquire() as conn, conn.transaction():
            await lock_hold_payment(conn, hold_id=hold_id)
            paying_whole = await store.paid_whole(conn, hold_id=hold_id)
            await enter_tenant_scope(conn, tenant_id)
            return await self._create_locked(
                conn, principal, hold, players, amounts, request, paying_whole=paying_whole
            )

    async def _create_locked(
        self,
        conn: asyncpg.Connection,
        principal: Principal,
        hold: hold_store.HoldForPayment,
        players: list[UUID],
        amounts: list[int],
        request: CreateSplit,
        *,
        paying_whole: bool,
    ) -> tuple[dict[str, Any], bool]:
        hold_id, tenant_id = hold.hold_id, hold.tenant_id
        existing = await store.get_split(
            conn, tenant_id=tenant_id, hold_id=hold_id, for_update=True
        )
        if existing is not None:
            shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
            same = existing.idempotency_key == request.idempotency_key and [
                s.user_id for s in shares
            ] == [principal.user_id, *players]
            if not same:
                raise Conflict(
                    "this hold is already split",
                    {"reason": "exists_with_different_fields"},
                )
            return _view(existing, shares), False
        if hold.status != "held" or hold.expires_at <= datetime.now(UTC):
            raise Conflict("only a live hold can be split", {"status": hold.status})
        if hold.amount_paise <= 0:
            raise Conflict("this hold is free: nothing to split")
        if paying_whole:
            raise Conflict("this hold is already being paid", {"reason": "already_paying"})
        await store.insert_split(
            conn,
            tenant_id=tenant_id,
            hold_id=hold_id,
            booker_user_id=principal.user_id,
            amount_paise=hold.amount_paise,
            idempotency_key=request.idempotency_key,
            expires_at=hold.expires_at,
            shares=list(zip([principal.user_id, *players], amounts, strict=True)),
        )
        split = await store.get_split(conn, tenant_id=tenant_id, hold_id=hold_id)
        assert split is not None
        shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
        view = _view(split, shares)
        await _announce(conn, split, shares, view)
        for share in shares[1:]:
            await enqueue(
                conn,
                tenant_id=tenant_id,
                user_id=share.user_id,
                kind="system",
                data={
                    "title": "You are invited to a padel game",
                    "body": f"Pay your share of ₹{_rupees(share.amount_paise)} to play.",
                    "hold_id": str(hold_id),
                    "amount_paise": share.amount_paise,
                },
                dedupe_key=f"split_invite:{hold_id}:{share.user_id}",
            )
        return view, True

    async def view(self, principal: Principal, hold_id: UUID) -> dict[str, Any]:
        """The split, for its players and the tenant's staff; NotFound for anyone else."""
        tenant_id = _tenant(principal)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            split = await store.get_split(conn, tenant_id=tenant_id, hold_id=hold_id)
            shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
        if split is None or not (
            principal.is_staff_of(tenant_id) or any(s.user_id == principal.user_id for s in shares)
        ):
            raise NotFound("no such split", {"hold_id": str(hold_id)})
        return _view(split, shares)

    # -- paying a share ------------------------------------------------------------------------

    async def pay(self, principal: Principal, hold_id: UUID, request: PayShare) -> dict[str, Any]:
        """Pay the caller's share. ``wallet``: reserved now (InsufficientFunds leaves nothing);
        ``gateway``: answers ``payment`` (an intent with its checkout) — the share is paid when
        the gateway captures. Paying a paid share answers the split unchanged."""
        tenant_id = _tenant(principal)
        if request.method == "gateway":
            return await self._pay_at_gateway(principal, tenant_id, hold_id, request)
        wallet, payable = await self._wallets.wallet_and_payable(tenant_id, principal.user_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            split, share = await self._lock_share(conn, principal, tenant_id, hold_id)
            if share.status != "pending":
                shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
                return {"split": _view(split, shares), "payment": None}
            remaining = _check_payable(split)
            pending_id = f"split:{hold_id}:{principal.user_id}"
            if share.amount_paise > 0:
                # Under the split's lock: a cancellation waits for this reservation and voids it.
                await self._wallets.apply(
                    (
                        TransferSpec(
                            pending_id,
                            wallet,
                            payable,
                            share.amount_paise,
                            code="split_share",
                            pending=True,
                            timeout_secs=int(remaining) + RESERVATION_MARGIN_SECS,
                            user_data={"hold_id": str(hold_id)},
                        ),
                    )
                )
            complete = await self._record_paid(
                conn, split, principal.user_id, method="wallet", pending_id=pending_id
            )
        if complete:
            await self.settle(tenant_id, hold_id)
        return {"split": await self.view(principal, hold_id), "payment": None}

    async def _pay_at_gateway(
        self, principal: Principal, tenant_id: UUID, hold_id: UUID, request: PayShare
    ) -> dict[str, Any]:
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            split, share = await self._lock_share(conn, principal, tenant_id, hold_id, lock=False)
            if share.status != "pending":
                shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
                return {"split": _view(split, shares), "payment": None}
            _check_payable(split)
        payment = await self._payments.create_split_share(
            principal,
            amount_paise=share.amount_paise,
            idempotency_key=share_intent_key(hold_id, request.idempotency_key),
        )
        return {"split": await self.view(principal, hold_id), "payment": payment}

    async def _lock_share(
        self,
        conn: asyncpg.Connection,
        principal: Principal,
        tenant_id: UUID,
        hold_id: UUID,
        *,
        lock: bool = True,
    ) -> tuple[store.Split, store.Share]:
        split = await store.get_split(conn, tenant_id=tenant_id, hold_id=hold_id, for_update=lock)
        shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
        share = next((s for s in shares if s.user_id == principal.user_id), None)
        if split is None or share is None:
            raise NotFound("no share of yours in this split", {"hold_id": str(hold_id)})
        return split, share

    async def _record_paid(
        self,
        conn: asyncpg.Connection,
        split: store.Split,
        user_id: UUID,
        *,
        method: str,
        pending_id: str | None = None,
        intent_id: UUID | None = None,
    ) -> bool:
        """Mark the share paid (under the split's lock); True if it was the last one."""
        await store.mark_paid(
            conn,
            tenant_id=split.tenant_id,
            hold_id=split.hold_id,
            user_id=user_id,
            method=method,
            pending_id=pending_id,
            intent_id=intent_id,
        )
        shares = await store.shares_of(conn, tenant_id=split.tenant_id, hold_id=split.hold_id)
        complete = all(s.status != "pending" for s in shares)
        if complete:
            await store.set_status(
                conn, tenant_id=split.tenant_id, hold_id=split.hold_id, status="confirming"
            )
            split = await _reload(conn, split)
        await _announce(conn, split, shares, _view(split, shares))
        return complete

    async def on_share_captured(
        self, intent: payment_store.Intent, _attempt: payment_store.Attempt
    ) -> str | None:
        """A gateway captured a share's payment (``PaymentService`` calls this, exactly once
        per capture and again on retries). Returns the intent's outcome if decided now: a
        capture for a share that cannot be used any more (split cancelled or past expiry,
        share already paid another way) is refunded."""
        hold_id = hold_of_intent_key(intent.idempotency_key)
        if hold_id is None:
            raise Invalid("not a split share payment")
        tenant_id = intent.tenant_id
        complete = False
        refund = False
        async with tenant_scope(self._db, tenant_id) as conn:
            split = await store.get_split(
                conn, tenant_id=tenant_id, hold_id=hold_id, for_update=True
            )
            shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
            share = next((s for s in shares if s.user_id == intent.user_id), None)
            if split is None or share is None:
                refund = True
            elif share.intent_id == intent.intent_id:
                if split.status in ("cancelling", "cancelled"):
                    refund = True  # settle() refunds it (same key): repeating is harmless
            elif (
                share.status == "pending"
                and split.status == "open"
                and split.expires_at > datetime.now(UTC)
                and intent.captured_paise == share.amount_paise
            ):
                complete = await self._record_paid(
                    conn, split, intent.user_id, method="gateway", intent_id=intent.intent_id
                )
            else:
                refund = True
        if refund:
            await self._payments.finish_split_share(intent.intent_id, booked=False)
            return "refunded_unfulfillable"
        if complete:
            await self.settle(tenant_id, hold_id)
        return None

    # -- confirming or cancelling --------------------------------------------------------------

    async def settle(self, tenant_id: UUID, hold_id: UUID) -> str:
        """Move the split as far as it can go; idempotent. Returns its status."""
        async with tenant_scope(self._db, tenant_id) as conn:
            split = await store.get_split(
                conn, tenant_id=tenant_id, hold_id=hold_id, for_update=True
            )
            if split is None:
                raise NotFound("no such split", {"hold_id": str(hold_id)})
            if split.status == "open":
                hold_status = await store.hold_status(conn, tenant_id=tenant_id, hold_id=hold_id)
                if hold_status != "held" or split.expires_at <= datetime.now(UTC):
                    await self._to(conn, split, "cancelling")
            elif split.status == "confirming":
                hold_status = await store.hold_status(conn, tenant_id=tenant_id, hold_id=hold_id)
                if hold_status == "confirmed":
                    # Confirmed by another payment of the whole hold: the shares go back.
                    await self._to(conn, split, "cancelling")
                else:
                    try:
                        await self._shards.execute(ConfirmHoldCommand(tenant_id, hold_id))
                    except _CANNOT_BOOK:
                        await self._to(conn, split, "cancelling")
                    else:
                        await self._confirmed(conn, split)
            split = await _reload(conn, split)
            shares = await store.shares_of(conn, tenant_id=tenant_id, hold_id=hold_id)
        if split.status in ("confirmed", "cancelling", "cancelled"):
            booked = split.status == "confirmed"
            for share in shares:
                if share.status == "paid":
                    await self._finish_share(split, share, booked=booked)
            if split.status == "cancelling":
                async with tenant_scope(self._db, tenant_id) as conn:
                    locked = await store.get_split(
                        conn, tenant_id=tenant_id, hold_id=hold_id, for_update=True
                    )
                    assert locked is not None
                    if locked.status == "cancelling":
                        await self._to(conn, locked, "cancelled")
                return "cancelled"
        return split.status

    async def _to(self, conn: asyncpg.Connection, split: store.Split, status: str) -> None:
        await store.set_status(
            conn, tenant_id=split.tenant_id, hold_id=split.hold_id, status=status
        )
        split = await _reload(conn, split)
        shares = await store.shares_of(conn, tenant_id=split.tenant_id, hold_id=split.hold_id)
        await _announce(conn, split, shares, _view(split, shares))
        if status == "cancelled":
            for share in shares:
                if share.method is not None:
                    await enqueue(
                        conn,
                        tenant_id=split.tenant_id,
                        user_id=share.user_id,
                        kind="refund_processed",
                        data={"hold_id": str(split.hold_id), "amount_paise": share.amount_paise},
                        dedupe_key=f"split_refund:{split.hold_id}:{share.user_id}",
                    )

    async def _confirmed(self, conn: asyncpg.Connection, split: store.Split) -> None:
        """The hold is a booking now (same transaction as the split's status): players become
        its members. (The venue room's ``booked`` was written by the actor's commit, as for
        every booking: ``storage/court_bookings.py``.)"""
        shares = await store.shares_of(conn, tenant_id=split.tenant_id, hold_id=split.hold_id)
        await store.add_members(
            conn,
            tenant_id=split.tenant_id,
            hold_id=split.hold_id,
            user_ids=[s.user_id for s in shares[1:]],
        )
        await self._to(conn, split, "confirmed")

    async def _finish_share(self, split: store.Split, share: store.Share, *, booked: bool) -> None:
        """Post (booked) or give back one paid share, then record it; idempotent."""
        if share.method == "wallet" and share.amount_paise > 0:
            assert share.pending_id is not None
            spec: Any
            if booked:
                spec = PostSpec(f"{share.pending_id}:post", share.pending_id)
                fine = {"already_posted"}
            else:
                spec = VoidSpec(f"{share.pending_id}:void", share.pending_id)
                fine = {"already_voided", "already_expired"}
            try:
                await self._wallets.apply((spec,))
            except Conflict as exc:
                if (exc.details or {}).get("reason") not in fine:
                    raise
        elif share.method == "gateway":
            assert share.intent_id is not None
            await self._payments.finish_split_share(share.intent_id, booked=booked)
        async with tenant_scope(self._db, split.tenant_id) as conn:
            await store.finish_share(
                conn,
                tenant_id=split.tenant_id,
                hold_id=split.hold_id,
                user_id=share.user_id,
                status="settled" if booked else "refunded",
            )

    # -- the sweeper ---------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Cancel splits whose hold expired, finish half-done ones; returns how many moved."""
        async with self._db.acquire() as conn:
            due = await store.unsettled(conn)
        moved = 0
        for tenant_id, hold_id in due:
            try:
                await self.settle(tenant_id, hold_id)
                moved += 1
            except SevaError as exc:
                log.warning("could not settle the split of hold %s: %s", hold_id, exc)
        return moved

    async def _sweep_forever(self) -> None:
        await run_every(self._sweep_every, self.sweep, "split sweep")


def _check_payable(split: store.Split) -> float:
    """Seconds left to pay; Conflict if the split takes no more payments."""
    if split.status != "open":
        raise Conflict(f"this split is {split.status}", {"status": split.status})
    remaining = (split.expires_at - datetime.now(UTC)).total_seconds()
    if remaining <= 0:
        raise Conflict("the hold has expired", {"status": "expired"})
    return remaining


async def _reload(conn: asyncpg.Connection, split: store.Split) -> store.Split:
    fresh = await store.get_split(conn, tenant_id=split.tenant_id, hold_id=split.hold_id)
    assert fresh is not None
    return fresh


async def _announce(
    conn: asyncpg.Connection, split: store.Split, shares: list[store.Share], view: dict[str, Any]
) -> None:
    """``split:updated`` to every player's feed, in the change's transaction."""
    for share in shares:
        stream = feeds.user_stream(share.user_id)
        await feeds.append(
            conn,
            stream=stream,
            tenant_id=split.tenant_id,
            room=stream,
            event=SPLIT_EVENT,
            payload=view,
        )


def _view(split: store.Split, shares: list[store.Share]) -> dict[str, Any]:
    return {
        "hold_id": str(split.hold_id),
        "status": split.status,
        "amount_paise": split.amount_paise,
        "booker_user_id": str(split.booker_user_id),
        "expires_at": split.expires_at.isoformat(),
        "shares": [
            {
                "user_id": str(s.user_id),
                "amount_paise": s.amount_paise,
                "status": s.status,
                "method": s.method,
            }
            for s in shares
        ],
    }


def _rupees(paise: int) -> str:
    return f"{paise // 100}.{paise % 100:02d}"


def _tenant(principal: Principal) -> UUID:
    if principal.tenant_id is None:
        raise NotFound("no such hold")
    return principal.tenant_id
