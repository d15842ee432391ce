"""The shard against real PostgreSQL, without Ray: group commit, fencing, rebuild."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from actors.commands import CreateHoldCommand, ReleaseHoldCommand
from actors.shard import InventoryShard
from protocols.errors import SoldOut
from protocols.holds import HoldStatus
from storage.records import HoldState
from tests.support import make_world


def _create(world, user_index=0, qty=1, key=None, slot=0) -> CreateHoldCommand:
    return CreateHoldCommand(
        tenant_id=world.tenant_id,
        user_id=world.user_ids[user_index],
        slot_id=world.slot_ids[slot],
        qty=qty,
        idempotency_key=key or uuid.uuid4().hex,
    )


async def test_a_batch_of_holds_is_one_transaction(migrated_dsn: str, db: asyncpg.Pool):
    world = await make_world(db, capacity=40, users=50)
    shard = InventoryShard(shard_index=0, shard_count=1, dsn=migrated_dsn)
    try:
        results = await shard.apply([_create(world, i) for i in range(50)])
    finally:
        await shard.close()
    assert sum(isinstance(r, HoldState) for r in results) == 40
    assert sum(isinstance(r, SoldOut) for r in results) == 10
    async with db.acquire() as conn:
        txids = await conn.fetchval(
            "SELECT count(DISTINCT xmin::text) FROM holds WHERE tenant_id = $1", world.tenant_id
        )
        events = await conn.fetch(
            "SELECT seq, xmin::text AS tx FROM availability_events WHERE tenant_id = $1 "
            "ORDER BY seq",
            world.tenant_id,
        )
    assert txids == 1
    assert [e["seq"] for e in events] == list(range(1, 41))
    assert len({e["tx"] for e in events}) == 1


async def test_a_stale_twin_shard_cannot_oversell(migrated_dsn: str, db: asyncpg.Pool):
    world = await make_world(db, capacity=3, users=2)
    first = InventoryShard(shard_index=0, shard_count=1, dsn=migrated_dsn)
    twin = InventoryShard(shard_index=0, shard_count=1, dsn=migrated_dsn)
    try:
        # Both load the slot while it is empty...
        await first.apply([_create(world, 0, qty=1)])
        await twin.apply([_create(world, 1, qty=1)])
        # ...so each has a stale view of the other's hold; one place is left for the two.
        a = await first.apply([_create(world, 0, qty=1)])
        b = await twin.apply([_create(world, 1, qty=1)])
    finally:
        await first.close()
        await twin.close()
    assert isinstance(a[0], SoldOut) != isinstance(b[0], SoldOut)
    async with db.acquire() as conn:
        held = await conn.fetchval("SELECT held_qty FROM slots WHERE id = $1", world.slot_ids[0])
        total = await conn.fetchval(
            "SELECT sum(qty) FROM holds WHERE slot_id = $1 AND status = 'held'", world.slot_ids[0]
        )
        seqs = await conn.fetch(
            "SELECT seq FROM availability_events WHERE tenant_id = $1 ORDER BY seq",
            world.tenant_id,
        )
    assert held == total == 3
    assert [s["seq"] for s in seqs] == list(range(1, len(seqs) + 1))


async def test_a_fresh_shard_rebuilds_live_holds_and_expires_them(
    migrated_dsn: str, db: asyncpg.Pool
):
    world = await make_world(db, capacity=2, hold_ttl_secs=1)
    before = InventoryShard(shard_index=0, shard_count=1, dsn=migrated_dsn)
    try:
        [hold] = await before.apply([_create(world, qty=2)])
    finally:
        await before.close()  # as if the process died: nothing in memory survives
    assert isinstance(hold, HoldState)
    after = InventoryShard(shard_index=0, shard_count=1, dsn=migrated_dsn)
    try:
        stats = await after.tick()
        assert stats["active_holds"] >= 1
        for _ in range(100):
            async with db.acquire() as conn:
                status = await conn.fetchval("SELECT status FROM holds WHERE id = $1", hold.hold_id)
            if status == "expired":
                break
            await asyncio.sleep(0.05)
        assert status == "expired"
        [again] = await after.apply(
            [ReleaseHoldCommand(world.tenant_id, world.user_ids[0], hold.hold_id, False)]
        )
        assert isinstance(again, HoldState) and again.status is HoldStatus.EXPIRED
    finally:
        await after.close()
    async with db.acquire() as conn:
        held = await conn.fetchval("SELECT held_qty FROM slots WHERE id = $1", world.slot_ids[0])
    assert held == 0


async def test_an_idle_tenant_is_evicted_and_reloaded_on_demand(
    migrated_dsn: str, db: asyncpg.Pool
):
    world = await make_world(db, capacity=5, users=2)
    shard = InventoryShard(shard_index=0, shard_count=1, dsn=migrated_dsn, idle_evict_secs=0)
    try:
        [hold] = await shard.apply([_create(world, 0)])
        # Other tests' tenants with live holds are loaded too (one shard owns every tenant).
        loaded = (await shard.tick())["tenants"]  # a live hold keeps the tenant loaded
        await shard.apply(
            [ReleaseHoldCommand(world.tenant_id, world.user_ids[0], hold.hold_id, False)]
        )
        assert (await shard.tick())["tenants"] == loaded - 1
        [again] = await shard.apply([_create(world, 1, qty=5)])
        assert isinstance(again, HoldState)  # reloaded: the released place counts as free
    finally:
        await shard.close()
