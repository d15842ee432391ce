"""One shard: a Ray actor that hosts the logical inventory actors of many tenants.

The shard is the only writer of its tenants' slots and holds. It handles one batch at a time
(an asyncio lock, because async Ray actors do not keep call order), applies the batch's commands
in order with the pure rules of :mod:`actors.domain`, writes every effect in **one** PostgreSQL
transaction (group commit) and replies only after that commit. Availability events are announced
by NOTIFY inside the same transaction, so they reach listeners only if the change committed.

State is a cache of the database: it is loaded on demand, evicted when a tenant is idle, thrown
away when a commit fails, and rebuilt from PostgreSQL after Ray restarts the process. A timer
expires holds whose TTL has passed; on start the shard first loads every tenant of its own with
live holds, so holds expire even if nobody touches the tenant after a crash.

The class is plain Python: :class:`actors.pool.ShardPool` runs it as a Ray actor, and tests can
run it directly against PostgreSQL.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from actors.commands import (
    CancelBookingCommand,
    ConfirmHoldCommand,
    ConfirmHoldGroupCommand,
    CreateHoldCommand,
    InventoryCommand,
    RefreshTenantCommand,
    ReleaseHoldCommand,
    RescheduleBookingCommand,
    ReserveForWaitlistCommand,
    SetSlotCapacityCommand,
    SlotCapacitySet,
    TenantRefreshed,
    WaitlistReserved,
)
from actors.domain import Effects, TenantInventory
from actors.placement import shard_for
from actors.shard_host import TRANSIENT_DB_ERRORS, ShardHost
from protocols.errors import Internal, NotFound, SevaError, Unavailable
from storage import inventory as db
from storage import waitlist as waitlist_db
from storage.records import HoldState, Reschedule

log = logging.getLogger(__name__)

Result = (
    HoldState
    | tuple[HoldState, ...]
    | Reschedule
    | SlotCapacitySet
    | TenantRefreshed
    | WaitlistReserved
    | SevaError
)
_HoldTarget = (
    ReleaseHoldCommand | ConfirmHoldCommand | CancelBookingCommand | RescheduleBookingCommand
)


class InventoryShard(ShardHost):
    def __init__(
        self,
        *,
        shard_index: int,
        shard_count: int,
        dsn: str,
        pool_size: int = 4,
        idle_evict_secs: float = 300.0,
    ) -> None:
        super().__init__(
            shard_index=shard_index,
            shard_count=shard_count,
            dsn=dsn,
            pool_size=pool_size,
            idle_evict_secs=idle_evict_secs,
        )
        self._tenants: dict[UUID, TenantInventory] = {}
        self._last_used: dict[UUID, float] = {}

    def _state_stats(self) -> dict[str, Any]:
        return {
            "tenants": len(self._tenants),
            "active_holds": sum(len(t.active_holds) for t in self._tenants.values()),
        }

    # -- start-up ------------------------------------------------------------------------------

    async def _on_start(self, conn: asyncpg.Connection) -> None:
        """Every tenant of ours with live holds, so they expire even if nobody calls."""
        for tenant_id in await db.tenants_with_live_holds(conn):
            if shard_for(tenant_id, self._count) == self._index:
                await self._reload_live(conn, tenant_id)

    async def _reload_live(self, conn: asyncpg.Connection, tenant_id: UUID) -> None:
        inv = await self._tenant(conn, tenant_id)
        slot_ids = await db.slot_ids_with_live_holds(conn, tenant_id=tenant_id)
        await self._ensure_slots(conn, inv, slot_ids)

    # -- batches -------------------------------------------------------------------------------

    async def _apply_locked(self, commands: list[InventoryCommand]) -> list[Result]:
        touched = {c.tenant_id for c in commands}
        for attempt in range(2):
            try:
                return await self._apply_once(commands)
            except db.StaleState:
                # Someone else wrote our rows (a zombie twin after a restart?): reload, retry once.
                log.warning("shard %d: stale state, reloading (attempt %d)", self._index, attempt)
                self._forget(touched)
            except TRANSIENT_DB_ERRORS as exc:
                self._forget(touched)
                log.warning("shard %d: database error: %r", self._index, exc)
                return [Unavailable("inventory store is not reachable; retry")] * len(commands)
            except Exception:
                self._forget(touched)
                log.exception("shard %d: unexpected error applying a batch", self._index)
                return [Internal("unexpected error")] * len(commands)
        return [Unavailable("inventory changed concurrently; retry")] * len(commands)

    async def _apply_once(self, commands: list[InventoryCommand]) -> list[Result]:
        assert self._pool is not None
        now = datetime.now(UTC)
        results: list[Result | None] = [None] * len(commands)
        existing_by_key: dict[tuple[UUID, UUID, str], HoldState] = {}
        holds_by_id: dict[UUID, HoldState] = {}
        moves_by_key: dict[tuple[UUID, str], Reschedule] = {}
        async with self._pool.acquire() as conn:
            by_tenant: dict[UUID, list[int]] = defaultdict(list)
            for i, cmd in enumerate(commands):
                by_tenant[cmd.tenant_id].append(i)
            for tenant_id, indexes in by_tenant.items():
                if any(isinstance(commands[i], RefreshTenantCommand) for i in indexes):
                    # Everything is committed, so the database has the whole truth: drop the
                    # cached tenant and rebuild it, live holds included (for the timer).
                    self._forget({tenant_id})
                    with contextlib.suppress(NotFound):
                        await self._reload_live(conn, tenant_id)
                try:
                    inv = await self._tenant(conn, tenant_id)
                except NotFound as exc:
                    for i in indexes:
                        results[i] = exc
                    continue
                cmds = [commands[i] for i in indexes]
                creates = [c for c in cmds if isinstance(c, CreateHoldCommand)]
                hold_ids = [
                    c.hold_id
                    for c in cmds
                    if isinstance(c, _HoldTarget) and c.hold_id not in inv.active_holds
                ] + [
                    hold_id
                    for c in cmds
                    if isinstance(c, ConfirmHoldGroupCommand)
                    for hold_id in c.hold_ids
                    if hold_id not in inv.active_holds
                ]
                found = await db.load_holds(conn, tenant_id=tenant_id, hold_ids=hold_ids)
                holds_by_id.update({h.hold_id: h for h in found})
                slot_ids = {
                    c.slot_id
                    for c in cmds
                    if isinstance(c, CreateHoldCommand | SetSlotCapacityCommand)
                }
                moves = [c for c in cmds if isinstance(c, RescheduleBookingCommand)]
                slot_ids |= {c.to_slot_id for c in moves}
                if moves:
                    moves_by_key.update(
                        await db.find_reschedules(
                            conn,
                            tenant_id=tenant_id,
                            keys=[(c.hold_id, c.idempotency_key) for c in moves],
                        )
                    )
                await self._ensure_slots(conn, inv, slot_ids | {h.slot_id for h in found})
                if creates:
                    keys = [(c.user_id, c.idempotency_key) for c in creates]
                    prior = await db.find_holds_by_key(conn, tenant_id=tenant_id, keys=keys)
                    for (user_id, key), hold in prior.items():
                        existing_by_key[(tenant_id, user_id, key)] = hold

            effects = Effects()
            for i, cmd in enumerate(commands):
                if results[i] is not None:
                    continue
                inv = self._tenants[cmd.tenant_id]
                try:
                    results[i] = self._apply_one(
                        inv, cmd, now, effects, existing_by_key, holds_by_id, moves_by_key
                    )
                except SevaError as exc:
                    results[i] = exc

            if effects:
                await _commit(conn, effects)
        mono = time.monotonic()
        for tenant_id in by_tenant:
            self._last_used[tenant_id] = mono
        return [r if r is not None else Internal("no result") for r in results]

    def _apply_one(
        self,
        inv: TenantInventory,
        cmd: InventoryCommand,
        now: datetime,
        effects: Effects,
        existing_by_key: dict[tuple[UUID, UUID, str], HoldState],
        holds_by_id: dict[UUID, HoldState],
        moves_by_key: dict[tuple[UUID, str], Reschedule],
    ) -> (
        HoldState
        | tuple[HoldState, ...]
        | Reschedule
        | SlotCapacitySet
        | TenantRefreshed
        | WaitlistReserved
    ):
        if isinstance(cmd, RefreshTenantCommand):
            return TenantRefreshed(tenant_id=cmd.tenant_id)
        if isinstance(cmd, ReserveForWaitlistCommand):
            qty = inv.reserve_for_waitlist(cmd.slot_id, cmd.qty)
            return WaitlistReserved(slot_id=cmd.slot_id, qty=qty)
        if isinstance(cmd, SetSlotCapacityCommand):
            return inv.set_capacity(
                slot_id=cmd.slot_id, capacity=cmd.capacity, now=now, effects=effects
            )
        if isinstance(cmd, CreateHoldCommand):
            key = (cmd.tenant_id, cmd.user_id, cmd.idempotency_key)
            hold = inv.create_hold(
                slot_id=cmd.slot_id,
                user_id=cmd.user_id,
                qty=cmd.qty,
                idempotency_key=cmd.idempotency_key,
                existing=existing_by_key.get(key),
                new_id=uuid.uuid4(),
                now=now,
                effects=effects,
                extras=cmd.extras,
                ttl=None if cmd.ttl_secs is None else timedelta(seconds=cmd.ttl_secs),
                for_waitlist=cmd.for_waitlist,
            )
            existing_by_key[key] = hold
            holds_by_id[hold.hold_id] = hold
            return hold
        if isinstance(cmd, ConfirmHoldGroupCommand):
            linked = [inv.active_holds.get(h) or holds_by_id.get(h) for h in cmd.hold_ids]
            missing = [h for h, found in zip(cmd.hold_ids, linked, strict=True) if found is None]
            if missing:
                raise NotFound("no such hold", {"hold_id": str(missing[0])})
            confirmed = inv.confirm_holds(
                [h for h in linked if h is not None], now=now, effects=effects
            )
            holds_by_id.update({h.hold_id: h for h in confirmed})
            return confirmed
        known = inv.active_holds.get(cmd.hold_id) or holds_by_id.get(cmd.hold_id)
        if known is None:
            raise NotFound("no such hold", {"hold_id": str(cmd.hold_id)})
        if isinstance(cmd, RescheduleBookingCommand):
            move_key = (cmd.hold_id, cmd.idempotency_key)
            move = inv.reschedule_booking(
                known,
                to_slot_id=cmd.to_slot_id,
                by_user=cmd.user_id,
                may_reschedule_any=cmd.may_reschedule_any,
                idempotency_key=cmd.idempotency_key,
                existing=moves_by_key.get(move_key),
                now=now,
                effects=effects,
            )
            moves_by_key[move_key] = move
            # Later commands of the batch see the booking in its new slot.
            latest = effects.changed_holds.get(known.hold_id) or effects.new_holds.get(
                known.hold_id
            )
            holds_by_id[known.hold_id] = latest or known
            return move
        if isinstance(cmd, CancelBookingCommand):
            result = inv.cancel_booking(
                known,
                by_user=cmd.user_id,
                may_cancel_any=cmd.may_cancel_any,
                now=now,
                effects=effects,
            )
        elif isinstance(cmd, ReleaseHoldCommand):
            result = inv.release_hold(
                known,
                by_user=cmd.user_id,
                may_release_any=cmd.may_release_any,
                now=now,
                effects=effects,
            )
        else:
            result = inv.confirm_hold(known, now=now, effects=effects)
        holds_by_id[result.hold_id] = result
        return result

    # -- state loading -------------------------------------------------------------------------

    async def _tenant(self, conn: asyncpg.Connection, tenant_id: UUID) -> TenantInventory:
        inv = self._tenants.get(tenant_id)
        if inv is None:
            policy = await db.load_tenant_policy(conn, tenant_id=tenant_id)
            if policy is None:
                raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
            inv = TenantInventory.from_policy(tenant_id, policy, datetime.now(UTC))
            self._tenants[tenant_id] = inv
            self._last_used[tenant_id] = time.monotonic()
        return inv

    async def _ensure_slots(
        self, conn: asyncpg.Connection, inv: TenantInventory, slot_ids: Any
    ) -> None:
        missing = [s for s in slot_ids if s not in inv.slots]
        if not missing:
            return
        slots = await db.load_slots(conn, tenant_id=inv.tenant_id, slot_ids=missing)
        holds = await db.load_active_holds(
            conn, tenant_id=inv.tenant_id, slot_ids=[s.slot_id for s in slots]
        )
        new_streams = {s.stream for s in slots} - inv.stream_seq.keys()
        seqs = await db.last_seqs(conn, streams=new_streams)
        for stream in new_streams:
            inv.stream_seq[stream] = seqs.get(stream, 0)
        for slot in slots:
            inv.slots[slot.slot_id] = slot
        for hold in holds:
            inv.track(hold)
        # Places owed to waiting lists come back with the slots (the waitlist loop keeps them
        # current from then on), so a reloaded actor never hands them to a plain hold.
        waiting = await waitlist_db.waiting_by_slot(conn, slot_ids=[s.slot_id for s in slots])
        for slot_id, qty in waiting.items():
            inv.reserve_for_waitlist(slot_id, qty)

    def _forget(self, tenant_ids: set[UUID]) -> None:
        for tenant_id in tenant_ids:
            self._tenants.pop(tenant_id, None)
            self._last_used.pop(tenant_id, None)

    def _evict_idle(self) -> None:
        cutoff = time.monotonic() - self._idle_evict_secs
        idle = {
            t
            for t, inv in self._tenants.items()
            if not inv.active_holds
            and not inv.waitlist_reserved
            and self._last_used.get(t, 0.0) < cutoff
        }
        self._forget(idle)

    # -- expiry --------------------------------------------------------------------------------

    def _next_deadline(self) -> datetime | None:
        return min(
            (e for t in self._tenants.values() if (e := t.next_expiry()) is not None),
            default=None,
        )

    async def _on_timer(self) -> None:
        await self._expire_due()

    async def _expire_due(self) -> None:
        assert self._pool is not None
        now = datetime.now(UTC)
        effects = Effects()
        touched: set[UUID] = set()
        for tenant_id, inv in self._tenants.items():
            if inv.expire_due(now, effects):
                touched.add(tenant_id)
        if not effects:
            return
        try:
            async with self._pool.acquire() as conn:
                await _commit(conn, effects)
        except BaseException:
            self._forget(touched)
            raise


async def _commit(conn: asyncpg.Connection, effects: Effects) -> None:
    """One transaction for the whole batch; in-memory versions follow only after commit."""
    async with conn.transaction():
        await db.commit_changes(
            conn,
            new_holds=list(effects.new_holds.values()),
            changed_holds=list(effects.changed_holds.values()),
            slots=list(effects.slots.values()),
            events=effects.events,
            audits=effects.audits,
            reschedules=effects.reschedules,
        )
    for slot in effects.slots.values():
        slot.version += 1
