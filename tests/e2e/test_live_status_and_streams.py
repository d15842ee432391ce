"""Live puja status and live streams: staff push, devotees receive, roles enforced."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import asyncpg

from tests.support import (
    Hub,
    admin_token,
    bearer,
    confirmed_booking,
    connect,
    eventually,
    make_user,
    make_world,
    staff_token,
    token_for,
    user_token,
)

HLS = "https://cdn.example.test/puja/live.m3u8"


async def test_the_assigned_pandit_moves_status_forward_and_devotees_see_every_step_in_order(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=5)
    booking = await confirmed_booking(hub, db, world)
    admin = await admin_token(hub, db, world)
    stranger_staff = await make_user(db, tenant_id=world.tenant_id, role="staff")
    devotee = await connect(hub, user_token(hub, world))
    pandit = await connect(hub, staff_token(hub, world))
    other = await connect(hub, token_for(hub, stranger_staff, world.tenant_id, "staff"))
    try:
        async with aiohttp.ClientSession(headers=bearer(admin)) as http:
            resp = await http.put(
                f"{hub.url}/api/v1/bookings/{booking}/assignee",
                json={"staff_user_id": str(world.staff_id)},
            )
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["status"] == "assigned"

        refused = await other.call("live:status", {"booking_id": booking, "status": "started"})
        assert refused["error"]["code"] == "forbidden"
        as_user = await devotee.call("live:status", {"booking_id": booking, "status": "started"})
        assert as_user["error"]["code"] == "forbidden"

        for status in ("started", "in_progress", "completed"):
            ack = await pandit.call(
                "live:status", {"booking_id": booking, "status": status, "note": f"now {status}"}
            )
            assert ack["ok"] and ack["data"]["changed"], ack
        backwards = await pandit.call("live:status", {"booking_id": booking, "status": "started"})
        assert backwards["error"]["code"] == "conflict"
        repeated = await pandit.call("live:status", {"booking_id": booking, "status": "completed"})
        assert repeated["ok"] and repeated["data"]["changed"] is False

        await eventually(lambda: len(devotee.received("live:status")) == 4)
        steps = devotee.received("live:status")
        assert [s["status"] for s in steps] == ["assigned", "started", "in_progress", "completed"]
        assert all(s["booking_id"] == booking for s in steps)
        seqs = [s["seq"] for s in steps]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
        assert steps[1]["note"] == "now started"

        def kinds() -> list[str]:
            return [n["type"] for n in devotee.received("notification")]

        await eventually(lambda: {"puja_started", "puja_completed"} <= set(kinds()))
        assert kinds().count("puja_started") == 1
        assert kinds().count("puja_completed") == 1
    finally:
        for client in (devotee, pandit, other):
            await client.close()


async def test_a_booking_that_is_only_held_has_no_live_status(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    devotee = await connect(hub, user_token(hub, world))
    pandit = await connect(hub, await admin_token(hub, db, world))
    try:
        held = await devotee.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
        )
        assert held["ok"]
        ack = await pandit.call(
            "live:status", {"booking_id": held["data"]["hold_id"], "status": "started"}
        )
        assert ack["error"]["code"] == "conflict"
        unknown = await pandit.call(
            "live:status", {"booking_id": str(uuid.uuid4()), "status": "started"}
        )
        assert unknown["error"]["code"] == "not_found"
        bad = await pandit.call("live:status", {"booking_id": "x", "status": "dancing"})
        assert bad["error"]["code"] == "invalid"
    finally:
        await devotee.close()
        await pandit.close()


async def test_a_follower_recovers_missed_status_changes_with_since(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    admin = await connect(hub, await admin_token(hub, db, world))
    follower = await connect(hub, staff_token(hub, world))
    try:
        first = await follower.call("live:subscribe", {"booking_id": booking})
        assert first["ok"], first
        assert first["data"]["mode"] == "snapshot"
        assert first["data"]["snapshot"]["status"] is None
        seen = first["data"]["seq"]
        await follower.close()
        for status in ("started", "completed"):
            assert (await admin.call("live:status", {"booking_id": booking, "status": status}))[
                "ok"
            ]
        follower = await connect(hub, staff_token(hub, world))
        again = await follower.call("live:subscribe", {"booking_id": booking, "since": seen})
        assert again["data"]["mode"] == "replay"
        assert again["data"]["replayed"] == 2
        replayed = [e for e in follower.received("live:status") if e["seq"] > seen]
        assert [e["status"] for e in replayed] == ["started", "completed"]
        stranger = await connect(hub, user_token(hub, await make_world(db), 0))
        try:
            refused = await stranger.call("live:subscribe", {"booking_id": booking})
            assert refused["error"]["code"] == "not_found"
        finally:
            await stranger.close()
    finally:
        await admin.close()
        await follower.close()


async def test_stream_viewer_counts_are_coalesced_and_the_session_is_persisted(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, users=2)
    booking = await confirmed_booking(hub, db, world)
    admin_bearer = await admin_token(hub, db, world)
    admin = await connect(hub, admin_bearer)
    devotee = await connect(hub, user_token(hub, world))
    viewers = [await connect(hub, user_token(hub, world)) for _ in range(5)]
    outsider = await connect(hub, user_token(hub, world, 1))
    pandit = await connect(hub, staff_token(hub, world))
    try:
        start = {"booking_id": booking, "url": HLS, "kind": "hls"}
        started = await admin.call("stream:start", start)
        assert started["ok"] and started["data"]["created"], started
        stream_id = started["data"]["stream_id"]
        retried = await admin.call("stream:start", start)
        assert retried["data"]["created"] is False
        assert retried["data"]["stream_id"] == stream_id

        await eventually(lambda: any(e["state"] == "live" for e in devotee.received("stream")))
        await eventually(
            lambda: "stream_started" in [n["type"] for n in devotee.received("notification")]
        )

        began = asyncio.get_running_loop().time()
        joins = await asyncio.gather(
            *(v.call("stream:join", {"stream_id": stream_id}) for v in viewers)
        )
        assert all(j["ok"] and j["data"]["joined"] for j in joins), joins
        await eventually(
            lambda: any(c["viewers"] == 5 for c in viewers[0].received("stream:viewers"))
        )
        await asyncio.sleep(1.2)
        elapsed = asyncio.get_running_loop().time() - began
        counts = viewers[0].received("stream:viewers")
        # Five joins, but at most one count per second (plus the first tick).
        assert len(counts) <= int(elapsed) + 1, counts
        assert counts[-1] == {"stream_id": stream_id, "viewers": 5}

        refused = await outsider.call("stream:join", {"stream_id": stream_id})
        assert refused["error"]["code"] == "not_found"
        not_starter = await pandit.call("stream:stop", {"stream_id": stream_id})
        assert not_starter["error"]["code"] == "forbidden"
        as_user = await devotee.call("stream:start", start)
        assert as_user["error"]["code"] == "forbidden"

        left = await viewers[4].call("stream:leave", {"stream_id": stream_id})
        assert left["ok"]
        await eventually(
            lambda: viewers[0].received("stream:viewers")[-1]["viewers"] == 4, within=5
        )
        stopped = await admin.call("stream:stop", {"stream_id": stream_id})
        assert stopped["ok"] and stopped["data"]["state"] == "ended"
        await eventually(lambda: any(e["state"] == "ended" for e in viewers[0].received("stream")))

        async with aiohttp.ClientSession(headers=bearer(admin_bearer)) as http:
            resp = await http.get(f"{hub.url}/api/v1/streams/{stream_id}")
            session = await resp.json()
        assert resp.status == 200
        assert session["peak_viewers"] == 5
        assert session["ended_at"] is not None
        assert session["duration_secs"] > 1
    finally:
        for client in (admin, devotee, outsider, pandit, *viewers):
            await client.close()


async def test_a_public_darshan_stream_is_announced_to_the_whole_tenant(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, users=1)
    devotee = await connect(hub, user_token(hub, world))
    pandit = await connect(hub, staff_token(hub, world))
    other_tenant = await connect(hub, user_token(hub, await make_world(db), 0))
    try:
        started = await pandit.call(
            "stream:start",
            {"resource_id": str(world.resource_id), "url": HLS, "kind": "youtube"},
        )
        assert started["ok"], started
        await eventually(lambda: len(devotee.received("stream")) == 1)
        assert devotee.received("stream")[0]["url"] == HLS
        joined = await devotee.call("stream:join", {"stream_id": started["data"]["stream_id"]})
        assert joined["data"]["joined"] and joined["data"]["kind"] == "youtube"
        foreign = await other_tenant.call(
            "stream:join", {"stream_id": started["data"]["stream_id"]}
        )
        assert foreign["error"]["code"] == "not_found"
        assert other_tenant.received("stream") == []
        both = await pandit.call(
            "stream:start",
            {
                "resource_id": str(world.resource_id),
                "booking_id": str(uuid.uuid4()),
                "url": HLS,
                "kind": "hls",
            },
        )
        assert both["error"]["code"] == "invalid"
    finally:
        for client in (devotee, pandit, other_tenant):
            await client.close()


async def test_presence_shows_who_of_the_tenant_is_online_and_when_they_were_last_seen(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, users=2)
    foreign = await make_world(db)
    pandit = await connect(hub, staff_token(hub, world))
    devotee = await connect(hub, user_token(hub, world))
    asked = {"user_ids": [str(world.user_ids[0]), str(world.user_ids[1]), str(foreign.user_ids[0])]}
    try:

        async def states() -> dict[str, dict]:
            ack = await pandit.call("presence:get", asked)
            assert ack["ok"], ack
            return {u["user_id"]: u for u in ack["data"]["users"]}

        async def until(check) -> dict[str, dict]:
            deadline = asyncio.get_running_loop().time() + 10
            while not check(seen := await states()):
                assert asyncio.get_running_loop().time() < deadline, seen
                await asyncio.sleep(0.2)
            return seen

        seen = await until(lambda s: s[str(world.user_ids[0])]["online"])
        assert str(foreign.user_ids[0]) not in seen  # another tenant's users are not shown
        assert seen[str(world.user_ids[1])] == {
            "user_id": str(world.user_ids[1]),
            "online": False,
            "last_seen_at": None,
        }
        await devotee.close()
        seen = await until(lambda s: not s[str(world.user_ids[0])]["online"])
        assert seen[str(world.user_ids[0])]["last_seen_at"] is not None
        bad = await pandit.call("presence:get", {"user_ids": []})
        assert bad["error"]["code"] == "invalid"
    finally:
        await pandit.close()
