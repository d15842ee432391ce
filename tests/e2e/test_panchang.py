"""The panchang and festival calendar through the hub: REST answers computed once and cached in
PostgreSQL, ``panchang:subscribe`` with today's panchang in the ack and a ``panchang`` push at
the place's sunrise (by the hub's own loop, and by the step the loop runs), festivals per
tenant, and bad input refused with nothing written."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from hub import keys
from protocols.panchang import next_sunrise, sunrise_on
from tests.support import (
    Hub,
    admin_token,
    bearer,
    connect,
    eventually,
    make_user,
    make_world,
    token_for,
    user_token,
)

IST = ZoneInfo("Asia/Kolkata")
DELHI = {"lat": 28.6139, "lon": 77.2090, "timezone": "Asia/Kolkata"}
DELHI_ROOM = "panchang:28.61:77.21:Asia/Kolkata"
_IST = {"timezone": "Asia/Kolkata"}


async def _get(hub: Hub, path: str, token: str | None) -> tuple[int, Any]:
    headers = bearer(token) if token is not None else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(hub.url + path, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def _post(
    hub: Hub, path: str, token: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(hub.url + path, headers=bearer(token) | (headers or {}), json=body) as resp,
    ):
        return resp.status, await resp.json()


async def _cached_rows(db: asyncpg.Pool) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM panchang_days")


def _seconds_apart(a: datetime | str, b: datetime | str) -> float:
    first = datetime.fromisoformat(a) if isinstance(a, str) else a
    second = datetime.fromisoformat(b) if isinstance(b, str) else b
    return abs((first - second).total_seconds())


# -- REST -------------------------------------------------------------------------------------


async def test_diwali_2024_in_new_delhi_over_rest_is_computed_once_and_then_read_from_the_cache(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    token = user_token(hub, world)
    path = "/api/v1/panchang?date=2024-11-01&lat=28.6139&lon=77.2090&timezone=Asia/Kolkata"
    status, body = await _get(hub, path, token)
    assert status == 200, body
    assert body["date"] == "2024-11-01"
    assert body["place"] == {"lat": 28.61, "lon": 77.21, "timezone": "Asia/Kolkata"}
    assert body["sunrise"].startswith("2024-11-01T06:3") and body["sunrise"].endswith("+05:30")
    assert body["sunset"].startswith("2024-11-01T17:3")
    assert (body["tithi"]["number"], body["tithi"]["name"], body["tithi"]["paksha"]) == (
        30,
        "Amavasya",
        "krishna",
    )
    assert body["tithi"]["ends_at"].startswith("2024-11-01T18:1")
    assert body["nakshatra"]["name"] == "Swati" and body["nakshatra"]["ends_at"]
    assert {"number", "name", "name_hi", "ends_at"} <= set(body["yoga"]) | set(body["karana"])
    assert body["vara"]["name"] == "Shukravara"
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT lat_centi, lon_centi, timezone FROM panchang_days WHERE day = '2024-11-01'"
        )
    assert [tuple(r) for r in rows] == [(2861, 7721, "Asia/Kolkata")]

    # A nearby point rounds to the same place: answered from the cached row, nothing new.
    before = await _cached_rows(db)
    status, again = await _get(hub, path.replace("28.6139", "28.6101"), token)
    assert (status, again) == (200, body)
    assert await _cached_rows(db) == before


async def test_the_cache_is_what_answers_once_a_day_is_stored(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    day = date(2031, 1, 1) + timedelta(days=random.randrange(3000))
    path = f"/api/v1/panchang?date={day}&lat=12.97&lon=77.59&timezone=Asia/Kolkata"
    status, first = await _get(hub, path, user_token(hub, world))
    assert status == 200
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE panchang_days SET data = jsonb_set(data, '{vara,name}', '\"from-cache\"') "
            "WHERE day = $1 AND lat_centi = 1297 AND lon_centi = 7759",
            day,
        )
    status, second = await _get(hub, path, user_token(hub, world))
    assert status == 200
    assert second["vara"]["name"] == "from-cache" and second["tithi"] == first["tithi"]


async def test_without_a_timezone_the_callers_tenant_timezone_is_used(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)  # a tenant in UTC
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE tenants SET timezone = 'Asia/Kathmandu' WHERE id = $1", world.tenant_id
        )
    status, body = await _get(
        hub, "/api/v1/panchang?date=2026-11-22&lat=27.7172&lon=85.324", user_token(hub, world)
    )
    assert status == 200, body
    assert body["place"]["timezone"] == "Asia/Kathmandu"
    assert body["sunrise"].endswith("+05:45")


async def test_bad_panchang_queries_answer_422_and_write_nothing(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    token = user_token(hub, world)
    before = await _cached_rows(db)
    for query in (
        "date=2026-11-22&lat=91&lon=77",
        "date=2026-11-22&lat=70&lon=77",
        "date=2026-11-22&lat=28&lon=-181",
        "date=2026-11-22&lat=abc&lon=77",
        "date=2026-11-22&lat=NaN&lon=77",
        "date=2026-02-30&lat=28&lon=77",
        "date=2150-01-01&lat=28&lon=77",
        "date=tomorrow&lat=28&lon=77",
        "date=2026-11-22&lat=28&lon=77&timezone=Not/AZone",
        "date=2026-11-22&lat=28",
        "lat=28&lon=77",
        "date=2026-11-22&lat=28&lon=77&colour=blue",
    ):
        status, body = await _get(hub, f"/api/v1/panchang?{query}", token)
        assert status == 422, (query, body)
        assert body["error"]["code"] == "invalid"
    assert await _cached_rows(db) == before
    status, body = await _get(hub, "/api/v1/panchang?date=2026-11-22&lat=28&lon=77", None)
    assert status == 401 and body["error"]["code"] == "unauthorized"


# -- Socket.IO --------------------------------------------------------------------------------


async def test_subscribe_acks_today_and_the_sunrise_step_pushes_that_days_panchang_to_the_place(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, users=3)
    delhi = [await connect(hub, user_token(hub, world, i)) for i in (0, 1)]
    mumbai = await connect(hub, user_token(hub, world, 2))
    scheduler = hub.app[keys.SUNRISE]
    try:
        now = datetime.now(UTC)
        acks = [await c.call("panchang:subscribe", DELHI) for c in delhi]
        assert all(ack["ok"] for ack in acks), acks
        ack = acks[0]["data"]
        assert ack["room"] == DELHI_ROOM
        assert ack["place"] == {"lat": 28.61, "lon": 77.21, "timezone": "Asia/Kolkata"}
        assert ack["panchang"]["date"] == now.astimezone(IST).date().isoformat()
        assert {"tithi", "nakshatra", "yoga", "karana", "vara"} <= set(ack["panchang"])
        other = await mumbai.call(
            "panchang:subscribe", {"lat": 19.076, "lon": 72.8777, "timezone": "Asia/Kolkata"}
        )
        assert other["ok"] and other["data"]["room"] == "panchang:19.08:72.88:Asia/Kolkata"

        # The next push is the place's next sunrise, early morning in India.
        due = scheduler.next_push_at(DELHI_ROOM)
        assert due is not None and due > now
        assert _seconds_apart(due, next_sunrise(28.61, 77.21, now)) < 1
        assert _seconds_apart(ack["next_push_at"], due) < 1
        assert 5 <= due.astimezone(IST).hour < 8

        # One step before it pushes nothing; at it, the day's panchang reaches both sockets
        # of that place (not Mumbai's), and the following sunrise is planned.
        assert DELHI_ROOM not in await scheduler.push_due(due - timedelta(minutes=1))
        assert DELHI_ROOM in await scheduler.push_due(due)
        for client in delhi:
            await eventually(lambda c=client: len(c.received("panchang")) == 1)
        pushed = delhi[0].received("panchang")[0]
        day = due.astimezone(IST).date()
        assert pushed["date"] == day.isoformat()
        assert _seconds_apart(pushed["sunrise"], due) < 1
        assert pushed["place"] == ack["place"]
        assert mumbai.received("panchang") == []
        following = scheduler.next_push_at(DELHI_ROOM)
        assert following is not None
        expected = sunrise_on(day + timedelta(days=1), 28.61, 77.21, IST)
        assert _seconds_apart(following, expected) < 1
    finally:
        for client in [*delhi, mumbai]:
            await client.close()
    await eventually(lambda: scheduler.next_push_at(DELHI_ROOM) is None)


def _a_place_where_the_sun_rises_in(secs: float) -> tuple[float, float, datetime]:
    """On the equator, the longitude (to 0.01 degree) where the sun rises about ``secs`` from
    now: sunrise comes 4 minutes earlier per degree east."""
    now = datetime.now(UTC)
    target = now + timedelta(seconds=secs)
    lon = 0.0
    for _ in range(6):
        rise = next_sunrise(0.0, lon, target - timedelta(hours=20))
        lon = ((lon + (rise - target).total_seconds() / 240.0) + 180.0) % 360.0 - 180.0
    lon = round(lon, 2)
    return 0.0, lon, next_sunrise(0.0, lon, now)


async def test_the_hubs_own_loop_pushes_at_sunrise(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    lat, lon, sunrise = _a_place_where_the_sun_rises_in(6)
    assert timedelta(seconds=2) < sunrise - datetime.now(UTC) < timedelta(seconds=15)
    client = await connect(hub, user_token(hub, world))
    try:
        ack = await client.call("panchang:subscribe", {"lat": lat, "lon": lon, "timezone": "UTC"})
        assert ack["ok"], ack
        assert _seconds_apart(ack["data"]["next_push_at"], sunrise) < 1
        await eventually(lambda: len(client.received("panchang")) == 1, within=25)
        pushed = client.received("panchang")[0]
        assert datetime.now(UTC) >= sunrise - timedelta(seconds=1)
        assert pushed["date"] == sunrise.date().isoformat()
        assert _seconds_apart(pushed["sunrise"], sunrise) < 1
    finally:
        await client.close()


async def test_unsubscribe_and_bad_subscriptions(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    client = await connect(hub, user_token(hub, world))
    scheduler = hub.app[keys.SUNRISE]
    try:
        for bad in (
            {"lat": 95, "lon": 77},
            {"lat": 28.6, "lon": 200},
            {"lat": 28.6, "lon": 77, "timezone": "Nowhere/City"},
            {"lat": "north", "lon": 77},
            {"lat": 28.6},
            {"lat": 28.6, "lon": 77, "extra": True},
        ):
            ack = await client.call("panchang:subscribe", bad)
            assert ack["error"]["code"] == "invalid", bad
        room = "panchang:23.18:75.79:Asia/Kolkata"  # Ujjain
        ack = await client.call("panchang:subscribe", {"lat": 23.1765, "lon": 75.7885, **_IST})
        assert ack["ok"] and ack["data"]["room"] == room
        again = await client.call("panchang:subscribe", {"lat": 23.18, "lon": 75.79, **_IST})
        assert again["ok"] and again["data"]["room"] == room  # free: the same place
        assert (await client.call("panchang:unsubscribe", {"room": room}))["data"] == {"room": room}
        assert scheduler.next_push_at(room) is None
        gone = await client.call("panchang:unsubscribe", {"room": room})
        assert gone["error"]["code"] == "not_found"
        # At most ten places per connection.
        for i in range(10):
            ok = await client.call("panchang:subscribe", {"lat": 10 + i, "lon": 77, **_IST})
            assert ok["ok"], ok
        over = await client.call("panchang:subscribe", {"lat": 30, "lon": 77, **_IST})
        assert over["error"]["code"] == "limit_exceeded"
        assert over["error"]["details"]["limit"] == "panchang_places_per_connection"
    finally:
        await client.close()


# -- festivals --------------------------------------------------------------------------------


async def test_tenant_admins_add_festivals_once_per_key_and_the_tenants_users_read_them(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    other = await make_world(db)
    admin = await admin_token(hub, db, world)
    diwali = {
        "name": "Diwali",
        "date": "2026-11-08",
        "description": "Lakshmi Puja in the evening",
        "tithi_rule": {"masa": "kartika", "paksha": "krishna", "tithi": 15},
        "idempotency_key": "diwali-2026",
    }
    status, made = await _post(hub, "/api/v1/festivals", admin, diwali)
    assert status == 201, made
    assert made["name"] == "Diwali" and made["date"] == "2026-11-08"
    assert made["tithi_rule"] == {"masa": "kartika", "paksha": "krishna", "tithi": 15}
    status, same = await _post(hub, "/api/v1/festivals", admin, diwali)
    assert (status, same) == (200, made)
    status, clash = await _post(hub, "/api/v1/festivals", admin, diwali | {"name": "Deepavali"})
    assert status == 409 and clash["error"]["details"]["reason"] == "exists_with_different_fields"
    status, _ = await _post(
        hub,
        "/api/v1/festivals",
        admin,
        {"name": "Holi", "date": "2026-03-04"},
        headers={"Idempotency-Key": "holi-2026"},
    )
    assert status == 201
    status, _ = await _post(
        hub, "/api/v1/festivals", admin, {"name": "Next", "date": "2027-01-01", **_key()}
    )
    assert status == 201

    status, listed = await _get(
        hub,
        f"/api/v1/tenants/{world.tenant_id}/festivals?from=2026-01-01&to=2026-12-31",
        user_token(hub, world),
    )
    assert status == 200, listed
    assert [(f["name"], f["date"]) for f in listed["festivals"]] == [
        ("Holi", "2026-03-04"),
        ("Diwali", "2026-11-08"),
    ]
    assert listed["festivals"][1] == made
    async with db.acquire() as conn:
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'festival.created'",
            world.tenant_id,
        )
    assert audited == 3

    # Another tenant's users do not see the calendar; a user cannot add to it.
    status, body = await _get(
        hub, f"/api/v1/tenants/{world.tenant_id}/festivals", user_token(hub, other)
    )
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await _post(
        hub, "/api/v1/festivals", user_token(hub, world), {"name": "X", "date": "2026-01-01"}
    )
    assert status == 403
    status, body = await _get(
        hub, f"/api/v1/tenants/{other.tenant_id}/festivals", user_token(hub, other)
    )
    assert (status, body["festivals"]) == (200, [])


async def test_platform_operators_name_the_tenant(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    token = token_for(hub, operator, None, "platform_admin")
    body = {"name": "Maha Shivaratri", "date": "2027-03-06", **_key()}
    status, made = await _post(hub, f"/api/v1/festivals?tenant_id={world.tenant_id}", token, body)
    assert status == 201 and made["tenant_id"] == str(world.tenant_id)
    status, missing = await _post(hub, f"/api/v1/festivals?tenant_id={uuid.uuid4()}", token, body)
    assert status == 404 and missing["error"]["code"] == "not_found"
    status, listed = await _get(
        hub, f"/api/v1/tenants/{world.tenant_id}/festivals?from=2027-03-06&to=2027-03-06", token
    )
    assert status == 200 and [f["name"] for f in listed["festivals"]] == ["Maha Shivaratri"]


async def test_bad_festivals_and_ranges_answer_422_and_write_nothing(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    admin = await admin_token(hub, db, world)
    for bad in (
        {"name": "Diwali", "date": "2026-11-08"},  # no idempotency key
        {"name": "", "date": "2026-11-08", **_key()},
        {"name": "Diwali", "date": "2026-13-08", **_key()},
        {"name": "Diwali", "date": "1850-11-08", **_key()},
        {"name": "Diwali", "date": "2026-11-08", "tithi_rule": {"paksha": "dark"}, **_key()},
        {"name": "Diwali", "date": "2026-11-08", "colour": "gold", **_key()},
        {"name": "x" * 201, "date": "2026-11-08", **_key()},
    ):
        status, body = await _post(hub, "/api/v1/festivals", admin, bad)
        assert status == 422, (bad, body)
        assert body["error"]["code"] == "invalid"
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            hub.url + "/api/v1/festivals",
            headers=bearer(admin) | {"content-type": "application/json"},
            data=b"{not json",
        )
        assert resp.status == 400
    for query in ("from=2026-12-01&to=2026-01-01", "from=2026-01-01&to=2028-01-01", "from=x"):
        status, body = await _get(
            hub, f"/api/v1/tenants/{world.tenant_id}/festivals?{query}", user_token(hub, world)
        )
        assert status == 422, (query, body)
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM festivals WHERE tenant_id = $1", world.tenant_id
            )
            == 0
        )


def _key() -> dict[str, str]:
    return {"idempotency_key": uuid.uuid4().hex}
