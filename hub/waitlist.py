"""Waiting lists for sold-out slots (pretix-style): devotees queue for a slot; when places
free up (a hold released or expired, a booking cancelled, capacity raised) the first waiter is
**offered** a real hold with a short TTL, told by a ``waitlist:offer`` socket event and a
notification; paying that hold accepts the offer, and if it lapses the places go to the next
waiter.

Every offer is a hold made through the tenant's logical actor (key ``waitlist:<entry id>``, so
a retried round makes it once), so there are never more offers than free places. One round at
a time runs across all hubs (a PostgreSQL advisory lock); each hub tries every
``waitlist_poll_secs``. The queue is strict: while the head's qty does not fit, nobody behind
it is offered anything.

**Fairness.** Places are owed to the waiters first: the tenant's actor keeps as many free
places of the slot as its waiters are queued for (``ReserveForWaitlistCommand``, set when
someone joins or leaves and again at every round), so a plain ``hold:create`` cannot take a
place freed between rounds; only an offer (``for_waitlist``) may, using up that much of the
reservation. An actor that loads a slot reads its reservation from the waiting entries.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import asyncpg

from actors.commands import CreateHoldCommand, ReserveForWaitlistCommand
from actors.pool import ShardPool
from hub.auth import Principal
from hub.background import cancel_and_wait, run_every
from protocols.devotional import JoinWaitlist
from protocols.errors import Conflict, NotFound, SevaError, SoldOut
from protocols.holds import HoldStatus
from storage import waitlist as store
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

_LOCK_KEY = 0x5E7A_0016  # one offer round at a time across hubs
_SLOTS_PER_ROUND = 200


class Waitlist:
    def __init__(
        self, *, db: asyncpg.Pool, shards: ShardPool, offer_ttl_secs: int, poll_secs: float
    ) -> None:
        self._db = db
        self._shards = shards
        self._offer_ttl_secs = offer_ttl_secs
        self._poll_secs = poll_secs
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            run_every(self._poll_secs, self.offer_round, "waitlist offers")
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- devotees ------------------------------------------------------------------------------

    async def join(
        self, principal: Principal, slot_id: UUID, request: JoinWaitlist
    ) -> tuple[dict[str, Any], bool]:
        """Queue for ``qty`` places of a sold-out slot. The same key answers the same entry.
        Raises NotFound (no such slot in the caller's tenant), Conflict (the slot has started,
        or has the places now: ``details.reason = "places_available"`` — hold them instead)."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise NotFound("no such slot", {"slot_id": str(slot_id)})
        async with tenant_scope(self._db, tenant_id) as conn:
            slot = await store.slot_room(conn, tenant_id=tenant_id, slot_id=slot_id)
            if slot is None:
                raise NotFound("no such slot", {"slot_id": str(slot_id)})
            started, available = slot
            entry = await store.find_by_key(
                conn,
                tenant_id=tenant_id,
                user_id=principal.user_id,
                idempotency_key=request.idempotency_key,
            )
            created = False
            if entry is None:
                if started:
                    raise Conflict("slot has already started", {"slot_id": str(slot_id)})
                # Free places already owed to earlier waiters are not free for this one.
                available -= await store.waiting_qty(conn, slot_id=slot_id)
                if available >= request.qty:
                    raise Conflict(
                        "the slot has these places free: hold them instead",
                        {"reason": "places_available", "available": available},
                    )
                entry, created = await store.join(
                    conn,
                    tenant_id=tenant_id,
                    slot_id=slot_id,
                    user_id=principal.user_id,
                    qty=request.qty,
                    idempotency_key=request.idempotency_key,
                )
            if entry.slot_id != slot_id or entry.qty != request.qty:
                raise Conflict(
                    "idempotency key was already used for a different entry",
                    {"reason": "exists_with_different_fields", "entry_id": str(entry.entry_id)},
                )
            position = await store.position(conn, entry=entry)
        if created:
            await self._reserve(tenant_id, slot_id)
        return entry.view(position), created

    async def get(self, principal: Principal, entry_id: UUID) -> dict[str, Any]:
        entry = await self._mine(principal, entry_id)
        async with tenant_scope(self._db, entry.tenant_id, readonly=True) as conn:
            return entry.view(await store.position(conn, entry=entry))

    async def leave(self, principal: Principal, entry_id: UUID) -> dict[str, Any]:
        """A waiting entry is cancelled; any other answers as it is (safe to repeat)."""
        entry = await self._mine(principal, entry_id)
        async with tenant_scope(self._db, entry.tenant_id) as conn:
            cancelled = await store.cancel(conn, tenant_id=entry.tenant_id, entry_id=entry_id)
        if cancelled is not None:
            await self._reserve(entry.tenant_id, entry.slot_id)
        return (cancelled or entry).view(None)

    async def _reserve(
        self, tenant_id: UUID, slot_id: UUID, conn: asyncpg.Connection | None = None
    ) -> None:
        """Tell the tenant's actor how many places the slot's waiters are queued for (read
        after their change committed)."""
        if conn is None:
            async with tenant_scope(self._db, tenant_id, readonly=True) as scoped:
                qty = await store.waiting_qty(scoped, slot_id=slot_id)
        else:
            qty = await store.waiting_qty(conn, slot_id=slot_id)
        await self._shards.submit(ReserveForWaitlistCommand(tenant_id, slot_id, qty))

    async def _mine(self, principal: Principal, entry_id: UUID) -> store.Entry:
        if principal.tenant_id is not None:
            async with tenant_scope(self._db, principal.tenant_id, readonly=True) as conn:
                entry = await store.get(conn, tenant_id=principal.tenant_id, entry_id=entry_id)
            if entry is not None and (
                entry.user_id == principal.user_id or principal.is_staff_of(entry.tenant_id)
            ):
                return entry
        raise NotFound("no such waiting-list entry", {"entry_id": str(entry_id)})

    # -- offers --------------------------------------------------------------------------------

    async def offer_round(self) -> int:
        """Settle finished offers, then offer freed places in queue order; returns how many
        offers were made. Skipped if another hub's round is running."""
        made = 0
        async with self._db.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
                return 0
            try:
                await store.settle_offers(conn)
                await store.lapse_started(conn)
                for tenant_id, slot_id, available in await store.slots_with_room(
                    conn, limit=_SLOTS_PER_ROUND
                ):
                    made += await self._offer_slot(conn, tenant_id, slot_id, available)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
        return made

    async def _offer_slot(
        self, conn: asyncpg.Connection, tenant_id: UUID, slot_id: UUID, available: int
    ) -> int:
        made = 0
        try:
            await self._reserve(tenant_id, slot_id, conn)
        except SevaError as exc:
            log.warning("could not reserve slot %s for its waiters: %s", slot_id, exc)
            return made
        while available > 0:
            entry = await store.head(conn, slot_id=slot_id)
            if entry is None or entry.qty > available:
                return made
            try:
                hold = await self._shards.execute(
                    CreateHoldCommand(
                        tenant_id=tenant_id,
                        user_id=entry.user_id,
                        slot_id=slot_id,
                        qty=entry.qty,
                        idempotency_key=f"waitlist:{entry.entry_id}",
                        ttl_secs=self._offer_ttl_secs,
                        for_waitlist=True,
                    )
                )
            except SoldOut:
                return made  # someone held the places first; the next round looks again
            except (Conflict, NotFound) as exc:
                log.info("waitlist entry %s cannot be offered: %s", entry.entry_id, exc)
                await store.close(conn, entry_id=entry.entry_id, status="lapsed")
                continue
            except SevaError as exc:
                log.warning("waitlist offer for %s failed, retrying: %s", entry.entry_id, exc)
                return made
            if hold.status is not HoldStatus.HELD:
                # A round that died after the actor's commit: that offer already came and went.
                await store.close(conn, entry_id=entry.entry_id, status="lapsed")
                continue
            async with conn.transaction():
                if await store.record_offer(
                    conn, entry=entry, hold_id=hold.hold_id, expires_at=hold.expires_at
                ):
                    made += 1
            available -= entry.qty
        return made
