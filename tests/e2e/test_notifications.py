"""The notification inbox: pushed after commit, listed and read over the socket and REST,
read on one device and cleared on the others, delivered even if no relay ran at commit time."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import asyncpg

from hub import keys
from hub.feed_relay import FeedRelay
from tests.conftest import hub_settings, start_hub
from tests.support import (
    Hub,
    admin_token,
    bearer,
    confirmed_booking,
    connect,
    create_database,
    eventually,
    make_world,
    user_token,
)


async def _send(
    http: aiohttp.ClientSession, hub: Hub, tenant_id: Any, users: list[Any], title: str, **extra
) -> aiohttp.ClientResponse:
    body = {
        "user_ids": [str(u) for u in users],
        "title": title,
        "body": f"{title} body",
        "idempotency_key": extra.pop("key", uuid.uuid4().hex),
        **extra,
    }
    return await http.post(f"{hub.url}/api/v1/tenants/{tenant_id}/notifications", json=body)


async def test_a_notice_reaches_every_device_and_reading_it_on_one_clears_it_on_the_other(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, users=2)
    phone = await connect(hub, user_token(hub, world))
    tablet = await connect(hub, user_token(hub, world))
    admin = await admin_token(hub, db, world)
    try:
        async with aiohttp.ClientSession(headers=bearer(admin)) as http:
            resp = await _send(
                http, hub, world.tenant_id, [world.user_ids[0]], "Aarti at 6", key="k1"
            )
            assert resp.status == 202, await resp.text()
            again = await _send(
                http, hub, world.tenant_id, [world.user_ids[0]], "Aarti at 6", key="k1"
            )
            assert (await again.json())["queued"] == 0  # same key: not queued twice
        for device in (phone, tablet):
            await eventually(lambda d=device: len(d.received("notification")) == 1)
        note = phone.received("notification")[0]
        assert note["type"] == "system" and note["title"] == "Aarti at 6"
        assert note["read_at"] is None and note["stream"] == f"user:{world.user_ids[0]}"

        listed = await tablet.call("notifications:list", {"limit": 10})
        assert listed["data"]["unread"] == 1
        assert [n["id"] for n in listed["data"]["items"]] == [note["id"]]

        read = await phone.call("notifications:read", {"ids": [note["id"]]})
        assert read["ok"] and read["data"]["read"] == [note["id"]], read
        await eventually(lambda: len(tablet.received("notifications:read")) == 1)
        cleared = tablet.received("notifications:read")[0]
        assert cleared["ids"] == [note["id"]] and cleared["seq"] == note["seq"] + 1
        after = await tablet.call("notifications:list", {})
        assert after["data"]["unread"] == 0
        assert after["data"]["items"][0]["read_at"] is not None
    finally:
        await phone.close()
        await tablet.close()


async def test_rest_inbox_pages_with_a_cursor_and_reads_one_or_all(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, users=2)
    admin = await admin_token(hub, db, world)
    me = world.user_ids[0]
    async with aiohttp.ClientSession(headers=bearer(admin)) as http:
        for i in range(25):
            assert (await _send(http, hub, world.tenant_id, [me], f"notice {i}")).status == 202
    async with aiohttp.ClientSession(headers=bearer(user_token(hub, world))) as http:

        async def listed(**query: Any) -> dict[str, Any]:
            resp = await http.get(f"{hub.url}/api/v1/notifications", params=query)
            assert resp.status == 200, await resp.text()
            return await resp.json()

        async def settled() -> bool:
            return (await listed(limit=100))["unread"] == 25

        deadline = asyncio.get_running_loop().time() + 10
        while not await settled():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        first = await listed(limit=10)
        second = await listed(limit=10, cursor=first["next_cursor"])
        third = await listed(limit=10, cursor=second["next_cursor"])
        titles = [n["title"] for page in (first, second, third) for n in page["items"]]
        assert titles == [f"notice {i}" for i in reversed(range(25))]
        assert third["next_cursor"] is None

        one = first["items"][0]["id"]
        resp = await http.put(f"{hub.url}/api/v1/notifications/{one}/read")
        assert resp.status == 200 and (await resp.json())["read"] == [one]
        assert (await listed())["unread"] == 24
        assert len((await listed(unread_only="true", limit=100))["items"]) == 24
        resp = await http.put(f"{hub.url}/api/v1/notifications/read-all")
        assert len((await resp.json())["read"]) == 24
        assert (await listed())["unread"] == 0

        missing = await http.put(f"{hub.url}/api/v1/notifications/{uuid.uuid4()}/read")
        assert missing.status == 404
        assert (await missing.json())["error"]["code"] == "not_found"
        bad = await http.get(f"{hub.url}/api/v1/notifications", params={"cursor": "nope"})
        assert bad.status == 422 and (await bad.json())["error"]["code"] == "invalid"
        not_admin = await _send(http, hub, world.tenant_id, [me], "spoof")
        assert not_admin.status == 403
    async with aiohttp.ClientSession(headers=bearer(user_token(hub, world, 1))) as http:
        foreign = await http.put(f"{hub.url}/api/v1/notifications/{one}/read")
        assert foreign.status == 404  # another user's notification does not exist for them


async def test_a_paid_booking_notifies_its_owner_once(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    client = await connect(hub, user_token(hub, world))
    try:

        async def confirmations() -> list[dict[str, Any]]:
            page = await client.call("notifications:list", {"limit": 100})
            return [n for n in page["data"]["items"] if n["type"] == "booking_confirmed"]

        deadline = asyncio.get_running_loop().time() + 10
        while not await confirmations():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        found = await confirmations()
        assert len(found) == 1
        assert found[0]["data"]["booking_id"] == booking
    finally:
        await client.close()


async def test_events_committed_while_no_relay_runs_are_published_when_one_starts(
    pg_dsn: str, ray_session: None
):
    dsn = await create_database(pg_dsn)
    handle, runner = await start_hub(hub_settings(), dsn)
    db = handle.app[keys.DB]
    try:
        await handle.app[keys.RELAY].stop()  # as if the relaying process died
        world = await make_world(db)
        client = await connect(handle, user_token(handle, world))
        admin = await admin_token(handle, db, world)
        async with aiohttp.ClientSession(headers=bearer(admin)) as http:
            resp = await _send(http, handle, world.tenant_id, [world.user_ids[0]], "Kept")
            assert resp.status == 202
        await asyncio.sleep(1.0)
        assert client.received("notification") == []
        async with db.acquire() as conn:
            pending = await conn.fetchval(
                "SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL"
            )
        assert pending == 1
        relay = FeedRelay(
            db=db, dsn=dsn, sio=handle.app[keys.SIO], retention_secs=3600, prune_every_secs=60
        )
        await relay.start()
        try:
            await eventually(lambda: len(client.received("notification")) == 1)
            await asyncio.sleep(0.5)
            assert [n["title"] for n in client.received("notification")] == ["Kept"]
        finally:
            await relay.stop()
            await client.close()
    finally:
        await runner.cleanup()
