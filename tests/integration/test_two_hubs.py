"""Two ``seva serve`` processes on one Ray cluster, one Redis and one PostgreSQL.

Proves: availability reaches subscribers on the other hub (through PostgreSQL); both hubs drive
the same logical actors (one activation per shard across hubs); a user-room event emitted on
one hub reaches the user's socket on the other (through Redis); and clients of a hub killed
with SIGKILL resume on the other hub by ``since`` with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.cluster_support import HubCluster, explain_failure, http_json, hub_cluster
from tests.support import (
    REPO_ROOT,
    Client,
    World,
    connect_url,
    eventually,
    make_user,
    make_world,
    subscribe,
)

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
async def cluster(cluster_dsn: str) -> AsyncIterator[HubCluster]:
    async with hub_cluster(cluster_dsn) as running:
        yield running


@pytest.fixture(scope="module")
async def db(cluster_db: asyncpg.Pool) -> asyncpg.Pool:
    """The cluster's database (see ``cluster_dsn``), in place of the session's."""
    return cluster_db


def token(cluster: HubCluster, world: World, index: int = 0) -> str:
    return cluster.tokens.issue(
        user_id=world.user_ids[index], tenant_id=world.tenant_id, role="user"
    )


async def hold(client: Client, world: World, *, key: str | None = None) -> dict[str, Any]:
    ack = await client.call(
        "hold:create",
        {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": key or uuid.uuid4().hex},
    )
    assert ack["ok"], ack
    return ack["data"]


async def available(db: asyncpg.Pool, world: World) -> int:
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT capacity - held_qty - confirmed_qty AS left FROM slots WHERE id = $1",
            world.slot_ids[0],
        )
    return int(row["left"])


async def shard_commands(cluster: HubCluster, namespace: str) -> dict[str, int]:
    """Named actors in the cluster's namespace → commands each applied, read by a separate
    driver attached to the same Ray cluster."""
    script = (
        "import json, ray\n"
        f"ray.init(address={cluster.ray.address!r}, namespace={namespace!r}, "
        "log_to_driver=False, configure_logging=False)\n"
        f"names = sorted(n['name'] for n in ray.util.list_named_actors(all_namespaces=True) "
        f"if n['namespace'] == {namespace!r})\n"
        "stats = {n: ray.get(ray.get_actor(n).tick.remote())['commands'] for n in names}\n"
        "print(json.dumps(stats))\n"
    )
    env = dict(cluster.hubs["a"].env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    stats: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
    return stats


async def test_hold_through_hub_a_reaches_a_subscriber_on_hub_b(
    cluster: HubCluster, db: asyncpg.Pool
) -> None:
    await cluster.ensure_hubs()
    world = await make_world(db, capacity=5, users=2)
    watcher = await connect_url(cluster.url("b"), token(cluster, world, 1))
    booker = await connect_url(cluster.url("a"), token(cluster, world, 0))
    try:
        with explain_failure(cluster):
            snapshot = await subscribe(watcher, world)
            stream = snapshot["stream"]
            await hold(booker, world)
            await hold(booker, world)
            await eventually(lambda: len(watcher.deltas_for(stream)) == 2)
            deltas = watcher.deltas_for(stream)
            assert [d["seq"] for d in deltas] == [snapshot["seq"] + 1, snapshot["seq"] + 2]
            assert deltas[-1]["slots"] == [{"slot_id": str(world.slot_ids[0]), "available": 3}]
    finally:
        await watcher.close()
        await booker.close()


async def test_both_hubs_drive_the_same_logical_actors_on_one_ray_cluster(
    cluster: HubCluster, db: asyncpg.Pool
) -> None:
    await cluster.ensure_hubs()
    namespace = cluster.hubs["a"].env["SEVA_RAY_NAMESPACE"]
    world = await make_world(db, capacity=20, users=2)
    via_a = await connect_url(cluster.url("a"), token(cluster, world, 0))
    via_b = await connect_url(cluster.url("b"), token(cluster, world, 1))
    try:
        with explain_failure(cluster):
            before = await shard_commands(cluster, namespace)
            # One activation per shard name, created by whichever hub came first.
            assert sorted(before) == [
                "seva-inventory-0",
                "seva-inventory-1",
                "seva-wallet-0",
            ], before
            await asyncio.gather(*(hold(via_a, world) for _ in range(3)))
            await asyncio.gather(*(hold(via_b, world) for _ in range(4)))
            after = await shard_commands(cluster, namespace)
            inventory_delta = sum(
                after[name] - before[name] for name in after if name.startswith("seva-inventory")
            )
            # Both hubs' holds were applied by the cluster's shared actors (a hub with a
            # private Ray would have applied its own elsewhere), and the database agrees.
            assert inventory_delta == 7, (before, after)
            assert await available(db, world) == 13
    finally:
        await via_a.close()
        await via_b.close()


async def test_user_room_events_reach_the_users_sockets_on_both_hubs(
    cluster: HubCluster, db: asyncpg.Pool
) -> None:
    """A notice sent and then read through hub A: the outbox relay of one hub (either) emits
    ``notification`` and then ``notifications:read`` to the user's room once each, so the
    socket on the other hub can only have them through Redis."""
    await cluster.ensure_hubs()
    world = await make_world(db, users=1)
    user_token = token(cluster, world)
    sockets = {hub: await connect_url(cluster.url(hub), user_token) for hub in ("a", "b")}
    received: dict[str, list[str]] = {hub: [] for hub in sockets}
    for hub, client in sockets.items():
        for event in ("notification", "notifications:read"):
            client.sio.on(event, lambda _data, hub=hub, event=event: received[hub].append(event))
    try:
        with explain_failure(cluster):
            await send_notice(cluster, "a", db, world)
            await eventually(
                lambda: all(r == ["notification"] for r in received.values()), within=20
            )
            await read_all_notifications(cluster, "a", user_token)
            expected = ["notification", "notifications:read"]
            await eventually(lambda: all(r == expected for r in received.values()), within=20)
            await asyncio.sleep(0.3)  # and only once each
            assert received == {"a": expected, "b": expected}, received
    finally:
        for client in sockets.values():
            await client.close()


async def send_notice(cluster: HubCluster, hub: str, db: asyncpg.Pool, world: World) -> None:
    """A ``system`` notice from the tenant's admin to the world's users, through ``hub``."""
    admin_id = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    admin = cluster.tokens.issue(user_id=admin_id, tenant_id=world.tenant_id, role="tenant_admin")
    status, body = await http_json(
        "POST",
        f"{cluster.url(hub)}/api/v1/tenants/{world.tenant_id}/notifications",
        token=admin,
        body={
            "user_ids": [str(u) for u in world.user_ids],
            "title": "Aarti moved",
            "body": "Evening aarti starts at 19:00 today.",
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert status == 202, (status, body)


async def read_all_notifications(cluster: HubCluster, hub: str, user_token: str) -> None:
    status, body = await http_json(
        "PUT", f"{cluster.url(hub)}/api/v1/notifications/read-all", token=user_token
    )
    assert status == 200, (status, body)
    assert body["read"], body


async def test_clients_of_a_killed_hub_resume_on_the_other_by_since_without_gap_or_duplicate(
    cluster: HubCluster, db: asyncpg.Pool
) -> None:
    await cluster.ensure_hubs()
    world = await make_world(db, capacity=30, users=2)
    watcher = await connect_url(cluster.url("a"), token(cluster, world, 1))
    booker = await connect_url(cluster.url("b"), token(cluster, world, 0))
    resumed: Client | None = None
    try:
        with explain_failure(cluster):
            snapshot = await subscribe(watcher, world)
            stream = snapshot["stream"]
            for _ in range(3):
                await hold(booker, world)
            await eventually(lambda: len(watcher.deltas_for(stream)) == 3)

            cluster.hubs["a"].crash()
            await eventually(lambda: not watcher.sio.connected, within=10)
            # Committed while the watcher has no connection.
            for _ in range(4):
                await hold(booker, world)

            last_seq = watcher.deltas_for(stream)[-1]["seq"]
            resumed = await connect_url(cluster.url("b"), token(cluster, world, 1))
            ack = await subscribe(resumed, world, since=last_seq)
            assert ack["mode"] == "replay" and ack["replayed"] == 4, ack
            for _ in range(2):
                await hold(booker, world)
            await eventually(lambda: len(resumed.deltas_for(stream)) == 6)

            seqs = [d["seq"] for d in watcher.deltas_for(stream) + resumed.deltas_for(stream)]
            first = snapshot["seq"] + 1
            assert seqs == list(range(first, first + 9)), seqs
            final = resumed.deltas_for(stream)[-1]["slots"][0]["available"]
            assert final == await available(db, world) == 21
    finally:
        for client in (watcher, booker, resumed):
            if client is not None and client.sio.connected:
                await client.close()
        await cluster.ensure_hubs()
