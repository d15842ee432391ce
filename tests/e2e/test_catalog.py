"""Catalog administration over REST against a real hub: resources, plan limits, slot generation
in the tenant's timezone, capacity changes through the inventory actor, booking extras."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest

from tests.support import (
    Hub,
    World,
    bearer,
    connect,
    eventually,
    make_user,
    make_world,
    subscribe,
    token_for,
    user_token,
)

IST = ZoneInfo("Asia/Kolkata")
RESOURCES = "/api/v1/catalog/resources"
EVERY_DAY = {
    day: [{"start": "06:00", "end": "20:00", "every_mins": 30}]
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}


async def _admin(hub: Hub, db: asyncpg.Pool, world: World) -> dict[str, str]:
    admin_id = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    return bearer(token_for(hub, admin_id, world.tenant_id, "tenant_admin"))


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any = None,
    **kw: Any,
) -> tuple[int, Any]:
    async with http.request(method, url, headers=headers, json=body, **kw) as resp:
        return resp.status, await resp.json()


async def _audit(db: asyncpg.Pool, tenant_id: UUID, action: str) -> list[dict[str, Any]]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT actor_user_id, actor_role, subject_id, before, after, request_id "
            "FROM audit_log WHERE tenant_id = $1 AND action = $2 ORDER BY id",
            tenant_id,
            action,
        )
    out = []
    for r in rows:
        entry = dict(r)
        for key in ("before", "after"):
            entry[key] = json.loads(entry[key]) if entry[key] is not None else None
        out.append(entry)
    return out


def _local_today(tz: ZoneInfo) -> date:
    return datetime.now(tz).date()


async def _resource(
    http: aiohttp.ClientSession, hub: Hub, admin: dict[str, str], **fields: Any
) -> dict[str, Any]:
    status, body = await _call(http, "POST", hub.url + RESOURCES, admin, fields)
    assert status == 201, body
    return body


async def _one_slot(
    http: aiohttp.ClientSession, hub: Hub, admin: dict[str, str], resource_id: str
) -> str:
    """Generate one slot tomorrow (tenant-local) at 06:00 and return its id."""
    day = (_local_today(UTC) + timedelta(days=1)).isoformat()
    url = f"{hub.url}{RESOURCES}/{resource_id}"
    schedule = {
        "from": day,
        "to": day,
        "special_days": {day: [{"start": "06:00", "end": "07:00", "every_mins": 60}]},
    }
    status, body = await _call(http, "POST", url + "/slots:generate", admin, schedule)
    assert (status, body) == (200, {"created": 1, "skipped": 0})
    status, body = await _call(http, "GET", url + "/slots", admin, params={"from": day})
    assert status == 200, body
    return body["slots"][0]["slot_id"]


async def test_tenant_admin_creates_reads_updates_and_deletes_a_resource(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    admin = await _admin(hub, db, world)
    async with aiohttp.ClientSession() as http:
        created = await _resource(
            http,
            hub,
            admin,
            kind="puja",
            name="Laghu Rudrabhishek",
            price_paise=251_000,
            capacity=10,
            duration_mins=60,
            description="Performed by two pandits",
            images=["tenants/kashi/rudra.jpg"],
            languages=["hi", "sa", "hi"],
            cancellation_policy=[
                {"hours_before": 2, "refund_percent": 0},
                {"hours_before": 48, "refund_percent": 90},
            ],
        )
        rid = created["resource_id"]
        assert created["tenant_id"] == str(world.tenant_id)
        assert created["status"] == "active" and created["version"] == 0
        assert created["languages"] == ["hi", "sa"]
        assert [r["hours_before"] for r in created["cancellation_policy"]] == [48, 2]
        assert created["booking_fields"] == {
            "max_participants": 10,
            "required": [],
            "special_requests": True,
        }
        url = f"{hub.url}{RESOURCES}/{rid}"
        assert await _call(http, "GET", url, admin) == (200, created)
        status, listed = await _call(http, "GET", hub.url + RESOURCES, admin)
        assert status == 200
        assert [r["resource_id"] for r in listed["resources"]] == [str(world.resource_id), rid]

        status, patched = await _call(
            http, "PATCH", url, admin, {"price_paise": 301_000, "description": None, "version": 0}
        )
        assert status == 200, patched
        assert (patched["price_paise"], patched["description"], patched["version"]) == (
            301_000,
            None,
            1,
        )
        assert patched["name"] == "Laghu Rudrabhishek"
        status, stale = await _call(http, "PATCH", url, admin, {"name": "x", "version": 0})
        assert (status, stale["error"]["code"]) == (409, "conflict")
        status, bad = await _call(http, "PATCH", url, admin, {"price_paise": -1})
        assert (status, bad["error"]["code"]) == (422, "invalid")
        status, bad = await _call(http, "PATCH", url, admin, {"kind": "court"})
        assert (status, bad["error"]["code"]) == (422, "invalid")

        assert await _call(http, "DELETE", url, admin) == (
            200,
            {"resource_id": rid, "outcome": "deleted"},
        )
        status, gone = await _call(http, "GET", url, admin)
        assert (status, gone["error"]["code"]) == (404, "not_found")

    created_rows = await _audit(db, world.tenant_id, "catalog.resource_created")
    assert [r["subject_id"] for r in created_rows] == [UUID(rid)]
    assert created_rows[0]["actor_role"] == "tenant_admin"
    assert created_rows[0]["request_id"]
    (updated,) = await _audit(db, world.tenant_id, "catalog.resource_updated")
    assert (updated["before"]["price_paise"], updated["after"]["price_paise"]) == (
        251_000,
        301_000,
    )
    (deleted,) = await _audit(db, world.tenant_id, "catalog.resource_deleted")
    assert deleted["before"]["name"] == "Laghu Rudrabhishek"


async def test_users_and_staff_read_the_catalog_but_get_forbidden_on_writes(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    url = f"{hub.url}{RESOURCES}/{world.resource_id}"
    async with aiohttp.ClientSession() as http:
        for token in (
            user_token(hub, world),
            token_for(hub, world.staff_id, world.tenant_id, "staff"),
        ):
            who = bearer(token)
            status, listed = await _call(http, "GET", hub.url + RESOURCES, who)
            assert status == 200
            assert [r["kind"] for r in listed["resources"]] == ["puja"]
            for method, path, body in [
                ("POST", hub.url + RESOURCES, {"kind": "court", "name": "Court 9"}),
                ("PATCH", url, {"name": "Renamed"}),
                ("DELETE", url, None),
                ("POST", url + "/slots:generate", {"from": "2030-01-01", "to": "2030-01-01"}),
                ("PATCH", f"{hub.url}/api/v1/catalog/slots/{world.slot_ids[0]}", {"capacity": 9}),
            ]:
                status, answer = await _call(http, method, path, who, body)
                assert (status, answer["error"]["code"]) == (403, "forbidden"), (method, path)
    async with db.acquire() as conn:
        assert await conn.fetchval(
            "SELECT name FROM resources WHERE id = $1", world.resource_id
        ) == ("Rudrabhishek")
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM resources WHERE tenant_id = $1", world.tenant_id
            )
            == 1
        )


async def test_another_tenants_resources_and_slots_are_not_found(hub: Hub, db: asyncpg.Pool):
    theirs = await make_world(db)
    mine = await make_world(db)
    admin = await _admin(hub, db, mine)
    url = f"{hub.url}{RESOURCES}/{theirs.resource_id}"
    day = (_local_today(UTC) + timedelta(days=1)).isoformat()
    async with aiohttp.ClientSession() as http:
        for method, path, body, params in [
            ("GET", url, None, None),
            ("PATCH", url, {"name": "Stolen"}, None),
            ("DELETE", url, None, None),
            ("GET", url + "/slots", None, {"from": day}),
            ("POST", url + "/slots:generate", {"from": day, "to": day, "weekly": EVERY_DAY}, None),
            (
                "PATCH",
                f"{hub.url}/api/v1/catalog/slots/{theirs.slot_ids[0]}",
                {"capacity": 1},
                None,
            ),
        ]:
            status, answer = await _call(http, method, path, admin, body, params=params)
            assert (status, answer["error"]["code"]) == (404, "not_found"), (method, path)
        status, listed = await _call(http, "GET", hub.url + RESOURCES, admin)
        assert [r["resource_id"] for r in listed["resources"]] == [str(mine.resource_id)]
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT r.name, r.status, s.capacity, "
            "(SELECT count(*) FROM slots WHERE resource_id = r.id) AS slots "
            "FROM resources r JOIN slots s ON s.resource_id = r.id WHERE r.id = $1",
            theirs.resource_id,
        )
    assert dict(row) == {"name": "Rudrabhishek", "status": "active", "capacity": 5, "slots": 1}


async def test_the_plan_resource_limit_answers_limit_exceeded_even_for_concurrent_admins(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)  # already has one resource
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE tenants SET plan = '{\"max_resources\": 3}'::jsonb WHERE id = $1",
            world.tenant_id,
        )
    admin = await _admin(hub, db, world)
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(
            *(
                _call(http, "POST", hub.url + RESOURCES, admin, {"kind": "court", "name": f"C{i}"})
                for i in range(6)
            )
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses == [201, 201, 403, 403, 403, 403]
        refused = [body for status, body in answers if status == 403]
        assert all(b["error"]["code"] == "limit_exceeded" for b in refused)
        assert refused[0]["error"]["details"] == {"max_resources": 3}
        # Archiving frees a place; bringing it back when the plan is full is refused.
        court = next(body for status, body in answers if status == 201)
        url = f"{hub.url}{RESOURCES}/{court['resource_id']}"
        status, _ = await _call(http, "PATCH", url, admin, {"status": "archived"})
        assert status == 200
        await _resource(http, hub, admin, kind="court", name="C-new")
        status, body = await _call(http, "PATCH", url, admin, {"status": "active"})
        assert (status, body["error"]["code"]) == (403, "limit_exceeded")
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM resources WHERE tenant_id = $1 AND status = 'active'",
                world.tenant_id,
            )
            == 3
        )


async def test_platform_admin_names_the_tenant_with_a_query_parameter(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    op = bearer(token_for(hub, operator, None, "platform_admin"))
    async with aiohttp.ClientSession() as http:
        status, body = await _call(
            http, "POST", hub.url + RESOURCES, op, {"kind": "yatra", "name": "Char Dham"}
        )
        assert (status, body["error"]["code"]) == (422, "invalid")
        status, body = await _call(
            http,
            "POST",
            hub.url + RESOURCES,
            op,
            {"kind": "yatra", "name": "Char Dham"},
            params={"tenant_id": str(world.tenant_id)},
        )
        assert status == 201 and body["tenant_id"] == str(world.tenant_id)
        status, body = await _call(
            http,
            "POST",
            hub.url + RESOURCES,
            op,
            {"kind": "yatra", "name": "Nowhere"},
            params={"tenant_id": "00000000-0000-0000-0000-000000000000"},
        )
        assert (status, body["error"]["code"]) == (404, "not_found")
    (row,) = await _audit(db, world.tenant_id, "catalog.resource_created")
    assert (row["actor_user_id"], row["actor_role"]) == (operator, "platform_admin")


async def test_weekly_schedule_makes_slots_in_the_tenants_timezone_once(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE tenants SET timezone = 'Asia/Kolkata' WHERE id = $1", world.tenant_id
        )
    admin = await _admin(hub, db, world)
    first = _local_today(IST) + timedelta(days=1)
    days = [first + timedelta(days=i) for i in range(7)]
    schedule = {
        "from": days[0].isoformat(),
        "to": days[-1].isoformat(),
        "weekly": EVERY_DAY,
        "blackout_dates": [days[2].isoformat()],
        "special_days": {
            days[3].isoformat(): [
                {
                    "start": "04:00",
                    "end": "06:00",
                    "every_mins": 60,
                    "capacity": 50,
                    "price_paise": 50_100,
                }
            ]
        },
    }
    expected = 5 * 28 + 2
    async with aiohttp.ClientSession() as http:
        darshan = await _resource(
            http, hub, admin, kind="puja", name="Darshan", capacity=20, price_paise=11_000
        )
        url = f"{hub.url}{RESOURCES}/{darshan['resource_id']}"
        status, body = await _call(http, "POST", url + "/slots:generate", admin, schedule)
        assert (status, body) == (200, {"created": expected, "skipped": 0})
        status, body = await _call(http, "POST", url + "/slots:generate", admin, schedule)
        assert (status, body) == (200, {"created": 0, "skipped": expected})

        status, listed = await _call(
            http, "GET", url + "/slots", admin, params={"from": days[0].isoformat()}
        )
        assert status == 200 and not listed["truncated"]
        slots = listed["slots"]
        assert len(slots) == 28
        opening = datetime.fromisoformat(slots[0]["starts_at"])
        assert opening == datetime.combine(days[0], time(6), IST)
        assert opening.astimezone(UTC).time() == time(0, 30)  # IST is UTC+05:30
        closing = datetime.fromisoformat(slots[-1]["ends_at"])
        assert closing.astimezone(IST).time() == time(20)
        assert {s["local_date"] for s in slots} == {days[0].isoformat()}
        assert {(s["capacity"], s["price_paise"], s["available"]) for s in slots} == {
            (20, 11_000, 20)
        }

        status, blackout = await _call(
            http, "GET", url + "/slots", admin, params={"from": days[2].isoformat()}
        )
        assert blackout["slots"] == []
        status, festival = await _call(
            http, "GET", url + "/slots", admin, params={"from": days[3].isoformat()}
        )
        assert [
            (datetime.fromisoformat(s["starts_at"]).astimezone(IST).time(), s["capacity"])
            for s in festival["slots"]
        ] == [(time(4), 50), (time(5), 50)]
        status, everything = await _call(
            http,
            "GET",
            url + "/slots",
            admin,
            params={"from": days[0].isoformat(), "to": days[-1].isoformat(), "limit": "100"},
        )
        assert len(everything["slots"]) == 100 and everything["truncated"]

        # The generated slots are live inventory: the availability route sees them.
        avail = f"{hub.url}/api/v1/tenants/{world.tenant_id}/resources/{darshan['resource_id']}"
        status, snap = await _call(
            http, "GET", avail + "/availability", admin, params={"date": days[0].isoformat()}
        )
        assert status == 200 and len(snap["slots"]) == 28

        status, too_many = await _call(
            http,
            "POST",
            url + "/slots:generate",
            admin,
            {
                "from": days[0].isoformat(),
                "to": (days[0] + timedelta(days=365)).isoformat(),
                "weekly": {
                    d: [{"start": "00:00", "end": "24:00", "every_mins": 5}] for d in EVERY_DAY
                },
            },
        )
        assert (status, too_many["error"]["code"]) == (422, "invalid")
        status, past = await _call(
            http,
            "POST",
            url + "/slots:generate",
            admin,
            {**schedule, "from": (days[0] - timedelta(days=3)).isoformat()},
        )
        assert (status, past["error"]["code"]) == (422, "invalid")
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM slots WHERE resource_id = $1", UUID(darshan["resource_id"])
            )
            == expected
        )
    runs = await _audit(db, world.tenant_id, "catalog.slots_generated")
    assert [(r["after"]["created"], r["after"]["skipped"]) for r in runs] == [
        (expected, 0),
        (0, expected),
    ]


async def _hold(
    http: aiohttp.ClientSession, hub: Hub, token: str, slot_id: Any, key: str, **body: Any
) -> tuple[int, Any]:
    return await _call(
        http,
        "POST",
        hub.url + "/api/v1/holds",
        {**bearer(token), "Idempotency-Key": key},
        {"slot_id": str(slot_id), "qty": body.pop("qty", 1), **body},
    )


async def test_capacity_below_what_is_held_is_a_conflict_and_changes_nothing(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=5)
    admin = await _admin(hub, db, world)
    slot_url = f"{hub.url}/api/v1/catalog/slots/{world.slot_ids[0]}"
    async with aiohttp.ClientSession() as http:
        status, _ = await _hold(http, hub, user_token(hub, world), world.slot_ids[0], "k1", qty=3)
        assert status == 201
        async with db.acquire() as conn:
            events_before = await conn.fetchval(
                "SELECT count(*) FROM availability_events WHERE tenant_id = $1", world.tenant_id
            )
        status, body = await _call(http, "PATCH", slot_url, admin, {"capacity": 2})
        assert (status, body["error"]["code"]) == (409, "conflict")
        assert body["error"]["details"] == {"held": 3, "confirmed": 0}
        status, body = await _call(http, "PATCH", slot_url, admin, {"capacity": -1})
        assert (status, body["error"]["code"]) == (422, "invalid")
        status, body = await _call(http, "PATCH", slot_url, admin, {"capacity": 3})
        assert status == 200
        assert (body["capacity"], body["held"], body["available"]) == (3, 3, 0)
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT capacity, held_qty, version FROM slots WHERE id = $1", world.slot_ids[0]
        )
        events_after = await conn.fetchval(
            "SELECT count(*) FROM availability_events WHERE tenant_id = $1", world.tenant_id
        )
    assert (row["capacity"], row["held_qty"], row["version"]) == (3, 3, 2)
    assert events_after == events_before + 1
    changes = await _audit(db, world.tenant_id, "catalog.slot_capacity_changed")
    assert [(c["before"], c["after"]) for c in changes] == [({"capacity": 5}, {"capacity": 3})]


async def test_raising_capacity_reaches_live_subscribers_as_an_availability_delta(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=5)
    admin = await _admin(hub, db, world)
    watcher = await connect(hub, user_token(hub, world))
    try:
        ack = await subscribe(watcher, world)
        async with aiohttp.ClientSession() as http:
            status, _ = await _hold(
                http, hub, user_token(hub, world), world.slot_ids[0], "k", qty=2
            )
            assert status == 201
            status, body = await _call(
                http,
                "PATCH",
                f"{hub.url}/api/v1/catalog/slots/{world.slot_ids[0]}",
                admin,
                {"capacity": 12},
            )
            assert status == 200 and body["available"] == 10
        await eventually(lambda: len(watcher.deltas_for(ack["stream"])) == 2)
        deltas = watcher.deltas_for(ack["stream"])
        assert [d["seq"] for d in deltas] == [ack["seq"] + 1, ack["seq"] + 2]
        assert deltas[-1]["slots"] == [{"slot_id": str(world.slot_ids[0]), "available": 10}]
        # A hold after the change sees the new capacity in the actor.
        async with aiohttp.ClientSession() as http:
            status, _ = await _hold(
                http, hub, user_token(hub, world), world.slot_ids[0], "k2", qty=10
            )
            assert status == 201
    finally:
        await watcher.close()


async def test_booking_extras_are_checked_against_the_resource_and_stored_on_the_hold(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, users=2)
    admin = await _admin(hub, db, world)
    token = user_token(hub, world)
    participant = {"name": "Asha Devi", "gotra": "Kashyap", "nakshatra": "Rohini"}
    async with aiohttp.ClientSession() as http:
        puja = await _resource(
            http,
            hub,
            admin,
            kind="puja",
            name="Satyanarayan",
            capacity=10,
            booking_fields={"max_participants": 2, "required": ["gotra"]},
        )
        court = await _resource(http, hub, admin, kind="court", name="Court 3", capacity=1)
        puja_slot = await _one_slot(http, hub, admin, puja["resource_id"])
        court_slot = await _one_slot(http, hub, admin, court["resource_id"])

        too_many = {"participants": [participant] * 3}
        status, body = await _hold(http, hub, token, puja_slot, "a", extras=too_many)
        assert (status, body["error"]["code"]) == (422, "invalid")
        assert body["error"]["details"]["max_participants"] == 2
        no_gotra = {"participants": [{"name": "Ravi"}]}
        status, body = await _hold(http, hub, token, puja_slot, "b", extras=no_gotra)
        assert (status, body["error"]["code"]) == (422, "invalid")
        on_court = {"participants": [participant]}
        status, body = await _hold(http, hub, token, court_slot, "c", extras=on_court)
        assert (status, body["error"]["code"]) == (422, "invalid")
        status, body = await _hold(http, hub, token, court_slot, "d", extras={"bogus": 1})
        assert (status, body["error"]["code"]) == (422, "invalid")

        extras = {"participants": [participant], "special_requests": "Sankalp in Hindi"}
        status, hold = await _hold(http, hub, token, puja_slot, "e", extras=extras)
        assert status == 201, hold
        status, again = await _hold(http, hub, token, puja_slot, "e", extras=extras)
        assert (status, again) == (201, hold)
        status, other = await _hold(
            http, hub, token, puja_slot, "e", extras={"participants": [participant]}
        )
        assert (status, other["error"]["code"]) == (409, "conflict")
        status, plain = await _hold(http, hub, token, court_slot, "f")
        assert status == 201

    client = await connect(hub, user_token(hub, world, 1))
    try:
        ack = await client.call(
            "hold:create",
            {
                "slot_id": puja_slot,
                "qty": 1,
                "idempotency_key": "socket-1",
                "extras": {"participants": [{"name": "Meera", "gotra": "Bharadwaj"}]},
            },
        )
        assert ack["ok"], ack
        socket_hold = ack["data"]["hold_id"]
    finally:
        await client.close()

    async with db.acquire() as conn:
        stored = {
            str(r["id"]): json.loads(r["extras"]) if r["extras"] else None
            for r in await conn.fetch(
                "SELECT id, extras FROM holds WHERE tenant_id = $1", world.tenant_id
            )
        }
    assert len(stored) == 3  # nothing was written for the refused requests
    assert stored[hold["hold_id"]] == {
        "participants": [{**participant, "relation": None}],
        "special_requests": "Sankalp in Hindi",
    }
    assert stored[plain["hold_id"]] is None
    assert stored[socket_hold]["participants"][0]["gotra"] == "Bharadwaj"


async def test_deleting_a_resource_with_holds_archives_it(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    admin = await _admin(hub, db, world)
    url = f"{hub.url}{RESOURCES}/{world.resource_id}"
    async with aiohttp.ClientSession() as http:
        status, _ = await _hold(http, hub, user_token(hub, world), world.slot_ids[0], "k")
        assert status == 201
        assert await _call(http, "DELETE", url, admin) == (
            200,
            {"resource_id": str(world.resource_id), "outcome": "archived"},
        )
        status, listed = await _call(http, "GET", hub.url + RESOURCES, admin)
        assert listed["resources"] == []
        status, listed = await _call(
            http, "GET", hub.url + RESOURCES, admin, params={"include_archived": "true"}
        )
        assert [r["status"] for r in listed["resources"]] == ["archived"]
        day = (_local_today(UTC) + timedelta(days=1)).isoformat()
        status, body = await _call(
            http, "POST", url + "/slots:generate", admin, {"from": day, "to": day}
        )
        assert (status, body["error"]["code"]) == (409, "conflict")
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM slots WHERE resource_id = $1", world.resource_id
            )
            == 1
        )
    (archived,) = await _audit(db, world.tenant_id, "catalog.resource_archived")
    assert (archived["before"]["status"], archived["after"]) == ("active", {"status": "archived"})


async def test_a_deleted_resources_slot_cached_by_the_actor_answers_not_found(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=0)
    admin = await _admin(hub, db, world)
    async with aiohttp.ClientSession() as http:
        # The actor loads the slot (and refuses: no places), then the admin deletes it.
        status, body = await _hold(http, hub, user_token(hub, world), world.slot_ids[0], "k")
        assert (status, body["error"]["code"]) == (409, "sold_out")
        status, body = await _call(
            http,
            "PATCH",
            f"{hub.url}/api/v1/catalog/slots/{world.slot_ids[0]}",
            admin,
            {"capacity": 3},
        )
        assert status == 200
        status, body = await _call(
            http, "DELETE", f"{hub.url}{RESOURCES}/{world.resource_id}", admin
        )
        assert body["outcome"] == "deleted"
        status, body = await _hold(http, hub, user_token(hub, world), world.slot_ids[0], "k2")
        assert (status, body["error"]["code"]) == (404, "not_found")


HOSTILE = [
    "Robert'); DROP TABLE resources;--",
    "<script>alert('x')</script>",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \U0001f64f \\x00 %s {} $1",
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_names_and_descriptions_are_stored_and_returned_verbatim(
    hub: Hub, db: asyncpg.Pool, text: str
):
    world = await make_world(db)
    admin = await _admin(hub, db, world)
    async with aiohttp.ClientSession() as http:
        created = await _resource(http, hub, admin, kind="seat", name=text, description=text)
        status, fetched = await _call(
            http, "GET", f"{hub.url}{RESOURCES}/{created['resource_id']}", admin
        )
    assert status == 200
    assert fetched["name"] == fetched["description"] == text
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT name, description FROM resources WHERE id = $1", UUID(created["resource_id"])
        )
        assert await conn.fetchval("SELECT count(*) FROM resources") > 0
    assert (row["name"], row["description"]) == (text, text)


async def test_archived_resources_slots_can_no_longer_be_held(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, capacity=5, users=2)
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    headers = bearer(token_for(hub, admin, world.tenant_id, "tenant_admin"))
    client = await connect(hub, user_token(hub, world, 0))
    try:
        first = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": "before-archive"},
        )
        assert first["ok"], first
        async with aiohttp.ClientSession(headers=headers) as http:
            gone = await http.delete(f"{hub.url}/api/v1/catalog/resources/{world.resource_id}")
            assert (await gone.json())["outcome"] == "archived"
        refused = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": "after-archive"},
        )
        assert refused["error"]["code"] == "conflict"
        assert refused["error"]["details"]["reason"] == "archived"
        # The hold made before is still there and can be released.
        released = await client.call("hold:release", {"hold_id": first["data"]["hold_id"]})
        assert released["ok"] and released["data"]["status"] == "released"
    finally:
        await client.close()


async def test_the_monthly_booking_limit_is_enforced_by_the_tenant_actor(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=10, users=1)
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    op = bearer(token_for(hub, operator, None, "platform_admin"))
    client = await connect(hub, user_token(hub, world, 0))

    async def hold(key: str) -> dict:
        return await client.call(
            "hold:create", {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": key}
        )

    try:
        assert (await hold("m-1"))["ok"]
        async with aiohttp.ClientSession(headers=op) as http:
            resp = await http.put(
                f"{hub.url}/api/v1/admin/tenants/{world.tenant_id}/plan",
                json={"plan": {"max_monthly_bookings": 2}},
            )
            assert resp.status == 200
        second = await hold("m-2")
        assert second["ok"]
        third = await hold("m-3")
        assert third["error"]["code"] == "limit_exceeded"
        assert third["error"]["details"] == {"max_monthly_bookings": 2}
        # A released hold is no booking: it frees its place under the limit.
        assert (await client.call("hold:release", {"hold_id": second["data"]["hold_id"]}))["ok"]
        assert (await hold("m-4"))["ok"]
        assert (await hold("m-1"))["ok"]  # a retry of an existing booking is not a new one
    finally:
        await client.close()
