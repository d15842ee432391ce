"""Redis stopped under two live hubs: bookings keep working, nothing is lost once it is back.

While Redis is down, holds through either hub still succeed quickly (Redis is not on the
request path; availability deltas travel through PostgreSQL), and a user-room event waits (in
the outbox, while the relay sees the manager unhealthy, or in the manager's bounded buffer).
After Redis returns, every hub's listener re-subscribes and tells its sockets
``feed:resync {reason: "fanout_reconnected"}``; subscribers resync by ``since`` and hold every
delta exactly once, in order, and the waiting user-room event reaches the user on both hubs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.cluster_support import HubCluster, explain_failure, hub_cluster
from tests.integration.test_two_hubs import read_all_notifications, send_notice
from tests.support import connect_url, eventually, make_world, subscribe

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
async def cluster(cluster_dsn: str) -> AsyncIterator[HubCluster]:
    async with hub_cluster(cluster_dsn) as running:
        yield running


@pytest.fixture(scope="module")
async def db(cluster_db: asyncpg.Pool) -> asyncpg.Pool:
    """The cluster's database (see ``cluster_dsn``), in place of the session's."""
    return cluster_db


async def test_holds_work_while_redis_is_down_and_everything_missed_is_recovered_after(
    cluster: HubCluster, db: asyncpg.Pool
) -> None:
    world = await make_world(db, capacity=40, users=2)

    def token(index: int) -> str:
        return cluster.tokens.issue(
            user_id=world.user_ids[index], tenant_id=world.tenant_id, role="user"
        )

    watcher = await connect_url(cluster.url("b"), token(1))
    booker = await connect_url(cluster.url("a"), token(0))
    inbox = {hub: await connect_url(cluster.url(hub), token(0)) for hub in ("a", "b")}
    resyncs: list[dict[str, Any]] = []
    watcher.sio.on("feed:resync", resyncs.append)
    events: dict[str, list[str]] = {hub: [] for hub in inbox}
    for hub, client in inbox.items():
        for event in ("notification", "notifications:read"):
            client.sio.on(event, lambda _data, hub=hub, event=event: events[hub].append(event))

    async def hold() -> float:
        started = time.monotonic()
        ack = await booker.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
        )
        assert ack["ok"], ack
        return time.monotonic() - started

    try:
        with explain_failure(cluster):
            snapshot = await subscribe(watcher, world)
            stream = snapshot["stream"]
            await send_notice(cluster, "a", db, world)
            await eventually(lambda: all(e == ["notification"] for e in events.values()))
            await hold()

            cluster.redis.stop()
            # Holds and other REST calls through either hub do not wait on Redis.
            took = [await hold() for _ in range(5)]
            assert max(took) < 2.0, took
            await read_all_notifications(cluster, "a", token(0))
            await asyncio.sleep(1.5)  # the hubs' health checks notice the outage meanwhile
            assert all(e == ["notification"] for e in events.values()), events

            await cluster.redis.start()
            await eventually(lambda: len(resyncs) >= 1, within=15)
            assert resyncs[0] == {"reason": "fanout_reconnected"}, resyncs
            took += [await hold() for _ in range(2)]

            # What a client does on feed:resync: subscribe again with the last seq it applied.
            applied = [d["seq"] for d in watcher.deltas_for(stream)]
            ack = await subscribe(watcher, world, since=applied[-1])
            assert ack["mode"] == "replay", ack
            # A delta that was still on its way when we resubscribed comes live and in the
            # replay: a client applies by seq and drops the copy.
            expected_seqs = list(range(snapshot["seq"] + 1, snapshot["seq"] + 9))
            await eventually(
                lambda: sorted({d["seq"] for d in watcher.deltas_for(stream)}) == expected_seqs
            )
            seqs = [d["seq"] for d in watcher.deltas_for(stream)]
            assert sorted(set(seqs)) == expected_seqs, seqs
            assert max(seqs) == expected_seqs[-1]
            async with db.acquire() as conn:
                left = await conn.fetchval(
                    "SELECT capacity - held_qty - confirmed_qty FROM slots WHERE id = $1",
                    world.slot_ids[0],
                )
            last = max(watcher.deltas_for(stream), key=lambda d: d["seq"])
            assert last["slots"][0]["available"] == left == 32

            # The user-room event made during the outage arrives once, on both hubs.
            expected = ["notification", "notifications:read"]
            await eventually(lambda: all(e == expected for e in events.values()), within=15)
            await asyncio.sleep(0.3)
            assert events == {"a": expected, "b": expected}, events
    finally:
        for client in (watcher, booker, *inbox.values()):
            if client.sio.connected:
                await client.close()
