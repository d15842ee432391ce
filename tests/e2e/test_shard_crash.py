"""A killed shard process is restarted by Ray and rebuilt from PostgreSQL: nothing lost or
doubled, and holds still expire."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import ray

from actors.placement import shard_for
from hub import keys
from tests.support import (
    Hub,
    World,
    connect,
    eventually,
    hold_status,
    make_world,
    subscribe,
    user_token,
)


def _shard_of(hub: Hub, world: World):
    pool = hub.app[keys.SHARDS]
    return pool.handle(shard_for(world.tenant_id, pool.shard_count))


async def _hold_until_answered(client, slot: str, key: str) -> dict:
    """What an app does: retry a retryable error with the same idempotency key."""
    for _ in range(50):
        ack = await client.call("hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": key})
        if ack["ok"] or ack["error"]["code"] != "unavailable":
            return ack
        await asyncio.sleep(0.2)
    raise AssertionError("hold never answered")


async def test_killing_the_shard_under_load_loses_and_doubles_nothing(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=120, slots=2, users=40)
    clients = [await connect(hub, user_token(hub, world, i)) for i in range(40)]
    results: list[tuple[str, dict]] = []

    async def worker(i: int) -> None:
        for n in range(5):
            key = f"crash-{i}-{n}"
            slot = str(world.slot_ids[(i + n) % 2])
            results.append((key, await _hold_until_answered(clients[i], slot, key)))

    try:
        load = asyncio.gather(*(worker(i) for i in range(40)))
        await eventually(lambda: len(results) >= 20)  # kill it mid-run, not before or after
        answered_before_kill = len(results)
        ray.kill(_shard_of(hub, world), no_restart=False)
        await load
        assert answered_before_kill < 200
        # The shard really restarted: its counters began again from zero.
        stats = None
        for _ in range(100):
            try:
                stats = await _shard_of(hub, world).stats.remote()
                break
            except ray.exceptions.RayActorError:
                await asyncio.sleep(0.1)
        assert stats is not None and stats["commands"] < 200
        # A retried key answers with the hold it made the first time.
        for i in range(0, 40, 7):
            key = f"crash-{i}-0"
            again = await _hold_until_answered(clients[i], str(world.slot_ids[i % 2]), key)
            assert again == dict(results)[key]
        ok = {key: ack["data"]["hold_id"] for key, ack in results if ack["ok"]}
        assert len(ok) == 200, [a for _, a in results if not a["ok"]][:3]
        async with db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, idempotency_key, slot_id, qty FROM holds WHERE tenant_id = $1",
                world.tenant_id,
            )
            counters = await conn.fetch(
                "SELECT id, held_qty FROM slots WHERE tenant_id = $1", world.tenant_id
            )
            seqs = await conn.fetch(
                "SELECT stream, count(*) AS n, max(seq) AS top FROM availability_events "
                "WHERE tenant_id = $1 GROUP BY stream",
                world.tenant_id,
            )
        assert len(rows) == 200
        assert {str(r["id"]) for r in rows} == set(ok.values())
        assert sorted(r["idempotency_key"] for r in rows) == sorted(ok)
        per_slot = {s: sum(r["qty"] for r in rows if r["slot_id"] == s) for s in world.slot_ids}
        assert {c["id"]: c["held_qty"] for c in counters} == per_slot
        assert [(s["n"], s["top"]) for s in seqs] == [(200, 200)]  # one event per hold, no gaps
        fresh = await _hold_until_answered(clients[0], str(world.slot_ids[0]), "after-crash")
        assert fresh["ok"]
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_a_hold_made_before_a_crash_still_expires_after_it(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=1, hold_ttl_secs=2)
    client = await connect(hub, user_token(hub, world))
    try:
        await subscribe(client, world)
        hold = await _hold_until_answered(client, str(world.slot_ids[0]), uuid.uuid4().hex)
        assert hold["ok"]
        ray.kill(_shard_of(hub, world), no_restart=False)
        await eventually(lambda: len(client.deltas) == 2, within=20)
        assert [d["slots"][0]["available"] for d in client.deltas] == [0, 1]
        assert await hold_status(db, hold["data"]["hold_id"]) == "expired"
    finally:
        await client.close()
