"""Gap-free recovery with ``since``: exactly the missed events, in order, for every stream; a
reset with a fresh snapshot once they are older than the retention."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import asyncpg

from hub import keys
from tests.conftest import hub_settings, start_hub
from tests.support import (
    Client,
    Hub,
    admin_token,
    bearer,
    connect,
    create_database,
    eventually,
    make_world,
    subscribe,
    user_token,
)


async def _notices(hub: Hub, admin: str, world, count: int, prefix: str) -> None:
    async with aiohttp.ClientSession(headers=bearer(admin)) as http:
        for i in range(count):
            resp = await http.post(
                f"{hub.url}/api/v1/tenants/{world.tenant_id}/notifications",
                json={
                    "user_ids": [str(world.user_ids[0])],
                    "title": f"{prefix} {i}",
                    "body": "b",
                    "idempotency_key": uuid.uuid4().hex,
                },
            )
            assert resp.status == 202, await resp.text()


async def _published(db: asyncpg.Pool, stream: str, seq: int) -> bool:
    async with db.acquire() as conn:
        return bool(
            await conn.fetchval(
                "SELECT published_at IS NOT NULL FROM feed_events WHERE stream = $1 AND seq = $2",
                stream,
                seq,
            )
        )


async def _wait_published(db: asyncpg.Pool, stream: str, seq: int) -> None:
    deadline = asyncio.get_running_loop().time() + 15
    while not await _published(db, stream, seq):
        assert asyncio.get_running_loop().time() < deadline, f"{stream} #{seq} not published"
        await asyncio.sleep(0.05)


def _after(client: Client, event: str, seq: int) -> list[dict[str, Any]]:
    return [e for e in client.received(event) if e["seq"] > seq]


async def test_a_device_that_was_away_gets_exactly_the_fifty_notifications_it_missed(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    admin = await admin_token(hub, db, world)
    stream = f"user:{world.user_ids[0]}"
    client = await connect(hub, user_token(hub, world))
    synced = await client.call("user:sync", {"since": 0})
    seen = synced["data"]["seq"]
    await client.close()

    await _notices(hub, admin, world, 50, "missed")
    await _wait_published(db, stream, seen + 50)

    client = await connect(hub, user_token(hub, world))
    try:
        again = await client.call("user:sync", {"since": seen})
        assert again["data"]["mode"] == "replay"
        assert again["data"]["replayed"] == 50
        assert again["data"]["seq"] == seen + 50
        got = _after(client, "notification", seen)
        assert [n["seq"] for n in got] == list(range(seen + 1, seen + 51))
        assert [n["title"] for n in got] == [f"missed {i}" for i in range(50)]
    finally:
        await client.close()


async def test_events_committed_during_the_reconnect_are_neither_lost_nor_doubled(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    admin = await admin_token(hub, db, world)
    client = await connect(hub, user_token(hub, world))
    seen = (await client.call("user:sync", {"since": 0}))["data"]["seq"]
    await client.close()
    sending = asyncio.create_task(_notices(hub, admin, world, 40, "racing"))
    await asyncio.sleep(0.1)
    client = await connect(hub, user_token(hub, world))
    try:
        ack = await client.call("user:sync", {"since": seen})
        assert ack["ok"] and ack["data"]["mode"] == "replay"
        await sending
        await eventually(
            lambda: (
                {n["seq"] for n in _after(client, "notification", seen)}
                == set(range(seen + 1, seen + 41))
            )
        )
        # A client applies by seq: whatever arrived twice (replay and live) is dropped once.
        by_seq = {n["seq"]: n["title"] for n in _after(client, "notification", seen)}
        assert [by_seq[s] for s in sorted(by_seq)] == [f"racing {i}" for i in range(40)]
    finally:
        await client.close()


async def test_a_resubscriber_gets_exactly_the_fifty_availability_changes_it_missed(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=100)
    watcher = await connect(hub, user_token(hub, world))
    first = await subscribe(watcher, world)
    seen = first["seq"]
    await watcher.close()
    booker = await connect(hub, user_token(hub, world))
    try:
        slot = str(world.slot_ids[0])
        for _ in range(25):
            held = await booker.call(
                "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": uuid.uuid4().hex}
            )
            assert held["ok"], held
            assert (await booker.call("hold:release", {"hold_id": held["data"]["hold_id"]}))["ok"]
    finally:
        await booker.close()
    watcher = await connect(hub, user_token(hub, world))
    try:
        again = await subscribe(watcher, world, since=seen)
        assert again["mode"] == "replay"
        assert again["replayed"] == 50
        deltas = [d for d in watcher.deltas_for(first["stream"]) if d["seq"] > seen]
        assert [d["seq"] for d in deltas] == list(range(seen + 1, seen + 51))
        assert [d["slots"][0]["available"] for d in deltas] == [99, 100] * 25
    finally:
        await watcher.close()


async def test_a_since_older_than_the_retention_gets_a_reset_with_a_fresh_snapshot(
    pg_dsn: str, ray_session: None
):
    # A database of its own: this hub prunes history after one second.
    dsn = await create_database(pg_dsn)
    settings = hub_settings(stream_retention_secs=1.0, retention_prune_every_secs=0.2)
    handle, runner = await start_hub(settings, dsn)
    db = handle.app[keys.DB]
    try:
        world = await make_world(db, capacity=10)
        admin = await admin_token(handle, db, world)
        client = await connect(handle, user_token(handle, world))
        seen_avail = (await subscribe(client, world))["seq"]
        seen_feed = (await client.call("user:sync", {"since": 0}))["data"]["seq"]
        await client.close()

        await _notices(handle, admin, world, 3, "old")
        booker = await connect(handle, user_token(handle, world))
        slot = str(world.slot_ids[0])
        for _ in range(3):
            held = await booker.call(
                "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": uuid.uuid4().hex}
            )
            assert held["ok"]
        await booker.close()
        await _wait_published(db, f"user:{world.user_ids[0]}", seen_feed + 3)
        await asyncio.sleep(2.0)  # older than the retention, and pruned meanwhile

        client = await connect(handle, user_token(handle, world))
        try:
            avail = await subscribe(client, world, since=seen_avail)
            assert avail["mode"] == "reset"
            assert avail["seq"] == seen_avail + 3
            assert avail["slots"][0]["available"] == 7
            assert [d for d in client.deltas if d["seq"] > seen_avail] == []
            feed = await client.call("user:sync", {"since": seen_feed})
            assert feed["data"]["mode"] == "reset"
            assert feed["data"]["seq"] == seen_feed + 3
            snapshot = feed["data"]["snapshot"]
            assert snapshot["unread"] == 3
            assert [n["title"] for n in snapshot["items"]] == ["old 2", "old 1", "old 0"]
            assert client.received("notification") == []
            bogus = await client.call("user:sync", {"since": seen_feed + 1000})
            assert bogus["data"]["mode"] == "reset"
        finally:
            await client.close()
    finally:
        await runner.cleanup()
