"""Holds and live availability end to end: Socket.IO clients → hub → Ray shards → PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from protocols.availability import stream_name
from tests.support import (
    Hub,
    connect,
    eventually,
    hold_status,
    make_world,
    staff_token,
    subscribe,
    user_token,
)


def _key() -> str:
    return uuid.uuid4().hex


async def test_two_hundred_racers_get_exactly_capacity_holds(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=5, users=200)
    watchers = [await connect(hub, user_token(hub, world, 0)) for _ in range(3)]
    racers = [await connect(hub, user_token(hub, world, i)) for i in range(200)]
    try:
        snapshots = [await subscribe(w, world) for w in watchers]
        assert {s["slots"][0]["available"] for s in snapshots} == {5}
        slot = str(world.slot_ids[0])
        acks = await asyncio.gather(
            *(
                r.call("hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": _key()})
                for r in racers
            )
        )
        won = [a for a in acks if a["ok"]]
        lost = [a for a in acks if not a["ok"]]
        assert len(won) == 5
        assert len(lost) == 195
        assert {a["error"]["code"] for a in lost} == {"sold_out"}
        async with db.acquire() as conn:
            held = await conn.fetchval(
                "SELECT count(*) FROM holds WHERE slot_id = $1 AND status = 'held'",
                world.slot_ids[0],
            )
            counters = await conn.fetchrow(
                "SELECT held_qty, confirmed_qty FROM slots WHERE id = $1", world.slot_ids[0]
            )
        assert held == 5
        assert counters["held_qty"] == 5
        assert counters["confirmed_qty"] == 0
        stream = snapshots[0]["stream"]
        for w in watchers:
            await eventually(lambda w=w: len(w.deltas_for(stream)) == 5)
            last = w.deltas_for(stream)[-1]
            assert last["slots"] == [{"slot_id": slot, "available": 0}]
    finally:
        await asyncio.gather(*(c.close() for c in watchers + racers))


async def test_two_subscribers_receive_identical_consecutive_deltas(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=50, slots=3, users=1)
    a = await connect(hub, user_token(hub, world))
    b = await connect(hub, user_token(hub, world))
    try:
        start = await subscribe(a, world)
        await subscribe(b, world)
        acks = await asyncio.gather(
            *(
                a.call(
                    "hold:create",
                    {"slot_id": str(world.slot_ids[i % 3]), "qty": 1, "idempotency_key": _key()},
                )
                for i in range(30)
            )
        )
        assert all(x["ok"] for x in acks)
        stream = start["stream"]
        await eventually(
            lambda: len(a.deltas_for(stream)) == 30 and len(b.deltas_for(stream)) == 30
        )
        assert a.deltas_for(stream) == b.deltas_for(stream)
        seqs = [d["seq"] for d in a.deltas_for(stream)]
        assert seqs == list(range(start["seq"] + 1, start["seq"] + 31))
    finally:
        await a.close()
        await b.close()


async def test_reconnect_with_since_replays_exactly_the_missed_deltas(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=20, users=2)
    watcher = await connect(hub, user_token(hub, world, 0))
    actor = await connect(hub, user_token(hub, world, 1))
    slot = str(world.slot_ids[0])
    try:
        snap = await subscribe(watcher, world)
        for _ in range(3):
            assert (
                await actor.call(
                    "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": _key()}
                )
            )["ok"]
        await eventually(lambda: len(watcher.deltas) == 3)
        seen = watcher.deltas[-1]["seq"]
        await watcher.close()
        for _ in range(4):  # missed while away
            assert (
                await actor.call(
                    "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": _key()}
                )
            )["ok"]
        back = await connect(hub, user_token(hub, world, 0))
        try:
            again = await subscribe(back, world, since=seen)
            assert again["mode"] == "replay"
            assert again["replayed"] == 4
            assert [d["seq"] for d in back.deltas] == [seen + 1, seen + 2, seen + 3, seen + 4]
            assert back.deltas[-1]["slots"][0]["available"] == 20 - 7
            assert again["seq"] == snap["seq"] + 7
            assert again["slots"][0]["available"] == 13
        finally:
            await back.close()
    finally:
        await actor.close()


async def test_same_idempotency_key_twice_makes_one_hold(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=5)
    client = await connect(hub, user_token(hub, world))
    try:
        body = {"slot_id": str(world.slot_ids[0]), "qty": 2, "idempotency_key": "same-key-1"}
        first, second = await asyncio.gather(
            client.call("hold:create", body), client.call("hold:create", body)
        )
        third = await client.call("hold:create", body)
        assert first["ok"] and second["ok"] and third["ok"]
        assert first["data"] == second["data"] == third["data"]
        different = await client.call("hold:create", {**body, "qty": 3})
        assert different["error"]["code"] == "conflict"
        assert different["error"]["details"]["reason"] == "exists_with_different_fields"
        async with db.acquire() as conn:
            rows = await conn.fetchval(
                "SELECT count(*) FROM holds WHERE tenant_id = $1", world.tenant_id
            )
            held = await conn.fetchval(
                "SELECT held_qty FROM slots WHERE id = $1", world.slot_ids[0]
            )
        assert rows == 1
        assert held == 2
    finally:
        await client.close()


async def test_release_returns_capacity_and_pushes_a_delta(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=1, users=2)
    holder = await connect(hub, user_token(hub, world, 0))
    other = await connect(hub, user_token(hub, world, 1))
    slot = str(world.slot_ids[0])
    try:
        await subscribe(other, world)
        hold = (
            await holder.call("hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": _key()})
        )["data"]
        refused = await other.call("hold:release", {"hold_id": hold["hold_id"]})
        assert refused["error"]["code"] == "forbidden"
        released = await holder.call("hold:release", {"hold_id": hold["hold_id"]})
        assert released["ok"] and released["data"]["status"] == "released"
        again = await holder.call("hold:release", {"hold_id": hold["hold_id"]})
        assert again["ok"] and again["data"]["status"] == "released"
        await eventually(lambda: len(other.deltas) == 2)
        assert [d["slots"][0]["available"] for d in other.deltas] == [0, 1]
        mine = await other.call(
            "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": _key()}
        )
        assert mine["ok"]
    finally:
        await holder.close()
        await other.close()


async def test_staff_may_release_a_devotees_hold(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=2)
    devotee = await connect(hub, user_token(hub, world))
    staff = await connect(hub, staff_token(hub, world))
    try:
        hold = (
            await devotee.call(
                "hold:create",
                {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": _key()},
            )
        )["data"]
        released = await staff.call("hold:release", {"hold_id": hold["hold_id"]})
        assert released["ok"] and released["data"]["status"] == "released"
    finally:
        await devotee.close()
        await staff.close()


async def test_expired_hold_gives_the_seat_back_live(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=1, hold_ttl_secs=1)
    client = await connect(hub, user_token(hub, world))
    try:
        snap = await subscribe(client, world)
        hold = await client.call(
            "hold:create", {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": _key()}
        )
        assert hold["ok"]
        await eventually(lambda: len(client.deltas) == 2, within=8)
        assert [d["slots"][0]["available"] for d in client.deltas] == [0, 1]
        assert [d["seq"] for d in client.deltas] == [snap["seq"] + 1, snap["seq"] + 2]
        assert await hold_status(db, hold["data"]["hold_id"]) == "expired"
    finally:
        await client.close()


async def test_unsubscribed_client_gets_no_more_deltas(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=5)
    client = await connect(hub, user_token(hub, world))
    try:
        snap = await subscribe(client, world)
        ack = await client.call("availability:unsubscribe", {"stream": snap["stream"]})
        assert ack == {"ok": True, "data": {"stream": snap["stream"]}}
        assert (
            await client.call(
                "hold:create",
                {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": _key()},
            )
        )["ok"]
        await asyncio.sleep(0.3)
        assert client.deltas == []
        assert snap["stream"] == stream_name(world.tenant_id, world.resource_id, world.day)
    finally:
        await client.close()
