"""Limits and abuse, through real Socket.IO clients and HTTP against real hubs.

Each test starts a hub of its own with tight limits (``hub_settings`` overrides), so the
session hub's generous test limits and the other tests are not affected.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
import socketio

from hub import keys
from tests.conftest import hub_settings, start_hub
from tests.support import Client, Hub, World, bearer, connect, make_world, user_token


@pytest.fixture
async def tight_hub(request, migrated_dsn: str, ray_session: None) -> AsyncIterator[Hub]:
    """A hub of the test's own: ``hub_settings`` overridden by the indirect parameter."""
    handle, runner = await start_hub(hub_settings(**request.param), migrated_dsn)
    try:
        yield handle
    finally:
        await runner.cleanup()


def _release_unknown() -> dict[str, str]:
    """An event that passes every limit and answers ``not_found``: cheap and writes nothing."""
    return {"hold_id": str(uuid.uuid4())}


async def _codes(client: Client, n: int) -> list[str]:
    return [
        (await client.call("hold:release", _release_unknown()))["error"]["code"] for _ in range(n)
    ]


async def _refusal(url: str, token: str, headers: dict[str, str] | None = None) -> Any:
    """Connect and expect a refusal; returns the ``connect_error`` data."""
    sio = socketio.AsyncClient(reconnection=False)
    reasons: list[Any] = []
    sio.on("connect_error", lambda data: reasons.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            url,
            auth={"token": token},
            headers=headers or {},
            transports=["websocket"],
            wait_timeout=5,
        )
    assert reasons, "no connect_error data"
    return reasons[0]


async def _connect_with(url: str, token: str, headers: dict[str, str]) -> Client:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        url, auth={"token": token}, headers=headers, transports=["websocket"], wait_timeout=5
    )
    return Client(sio)


# -- event rates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tight_hub",
    [
        {
            "socket_events_per_sec": 0.05,
            "socket_burst": 100,
            "socket_user_events_per_sec": 0.05,
            "socket_user_burst": 6,
        }
    ],
    indirect=True,
)
async def test_two_sockets_of_one_user_share_the_users_event_budget(
    tight_hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, users=2)
    first = await connect(tight_hub, user_token(tight_hub, world, 0))
    second = await connect(tight_hub, user_token(tight_hub, world, 0))
    other_user = await connect(tight_hub, user_token(tight_hub, world, 1))
    try:
        assert await _codes(first, 4) == ["not_found"] * 4
        assert await _codes(second, 2) == ["not_found"] * 2
        for client in (first, second):
            ack = await client.call("hold:release", _release_unknown())
            assert ack["ok"] is False
            assert ack["error"]["code"] == "rate_limited"
            assert ack["error"]["details"]["scope"] == "user"
            assert 0 < ack["error"]["details"]["retry_after_secs"] <= 1 / 0.05
        # Another user of the same tenant has a budget of their own.
        assert await _codes(other_user, 6) == ["not_found"] * 6
    finally:
        for client in (first, second, other_user):
            await client.close()
    # Reconnecting does not refill the user's bucket.
    again = await connect(tight_hub, user_token(tight_hub, world, 0))
    try:
        assert await _codes(again, 1) == ["rate_limited"]
    finally:
        await again.close()


@pytest.mark.parametrize(
    "tight_hub",
    [{"socket_events_per_sec": 0.05, "socket_burst": 3, "socket_user_burst": 100}],
    indirect=True,
)
async def test_one_flooding_socket_is_limited_without_its_users_other_sockets(
    tight_hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    flooding = await connect(tight_hub, user_token(tight_hub, world))
    calm = await connect(tight_hub, user_token(tight_hub, world))
    try:
        codes = await _codes(flooding, 5)
        assert codes == ["not_found"] * 3 + ["rate_limited"] * 2
        ack = await flooding.call("hold:release", _release_unknown())
        assert ack["error"]["details"]["scope"] == "connection"
        assert ack["error"]["details"]["retry_after_secs"] > 0
        assert await _codes(calm, 3) == ["not_found"] * 3
    finally:
        await flooding.close()
        await calm.close()


# -- subscriptions ---------------------------------------------------------------------------


def _subscription(world: World, days_later: int) -> dict[str, str]:
    return {
        "tenant_id": str(world.tenant_id),
        "resource_id": str(world.resource_id),
        "date": (world.day + timedelta(days=days_later)).isoformat(),
    }


@pytest.mark.parametrize("tight_hub", [{"socket_max_subscriptions": 2}], indirect=True)
async def test_a_socket_cannot_hold_more_availability_subscriptions_than_the_limit(
    tight_hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    client = await connect(tight_hub, user_token(tight_hub, world))
    neighbour = await connect(tight_hub, user_token(tight_hub, world))
    try:
        first = await client.call("availability:subscribe", _subscription(world, 0))
        second = await client.call("availability:subscribe", _subscription(world, 1))
        assert first["ok"] and second["ok"], (first, second)

        refused = await client.call("availability:subscribe", _subscription(world, 2))
        assert refused["ok"] is False
        assert refused["error"]["code"] == "limit_exceeded"
        assert refused["error"]["details"] == {"limit": "subscriptions_per_connection", "max": 2}

        # Subscribing again to a stream it has is free; a failed subscribe takes no slot.
        assert (await client.call("availability:subscribe", _subscription(world, 0)))["ok"]
        missing = {**_subscription(world, 3), "resource_id": str(uuid.uuid4())}
        assert (await client.call("availability:subscribe", missing))["error"]["code"] in (
            "limit_exceeded",
            "not_found",
        )
        # Other sockets count their own.
        assert (await neighbour.call("availability:subscribe", _subscription(world, 2)))["ok"]

        # Unsubscribing frees a slot.
        gone = await client.call("availability:unsubscribe", {"stream": first["data"]["stream"]})
        assert gone["ok"], gone
        third = await client.call("availability:subscribe", _subscription(world, 2))
        assert third["ok"], third
        again = await client.call("availability:subscribe", _subscription(world, 0))
        assert again["error"]["code"] == "limit_exceeded"
    finally:
        await client.close()
        await neighbour.close()


@pytest.mark.parametrize("tight_hub", [{"socket_max_subscriptions": 1}], indirect=True)
async def test_a_refused_subscribe_to_an_unknown_resource_does_not_use_the_slot(
    tight_hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    client = await connect(tight_hub, user_token(tight_hub, world))
    try:
        missing = {**_subscription(world, 0), "resource_id": str(uuid.uuid4())}
        assert (await client.call("availability:subscribe", missing))["error"]["code"] == (
            "not_found"
        )
        assert (await client.call("availability:subscribe", _subscription(world, 0)))["ok"]
    finally:
        await client.close()


# -- connections per address ---------------------------------------------------------------


@pytest.mark.parametrize(
    "tight_hub",
    [{"socket_max_connections_per_ip": 2, "trust_forwarded_for": True}],
    indirect=True,
)
async def test_connections_per_address_are_capped_and_a_closed_one_frees_its_slot(
    tight_hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    token = user_token(tight_hub, world)
    here = {"X-Forwarded-For": "203.0.113.7"}
    elsewhere = {"X-Forwarded-For": "198.51.100.9, 10.0.0.1"}

    # Refused handshakes (bad token) do not use up the address's slots.
    for _ in range(3):
        assert (await _refusal(tight_hub.url, "not.a.jwt", here))["code"] == "unauthorized"

    first = await _connect_with(tight_hub.url, token, here)
    second = await _connect_with(tight_hub.url, token, here)
    other = None
    try:
        refusal = await _refusal(tight_hub.url, token, here)
        assert refusal["code"] == "limit_exceeded"
        assert refusal["details"] == {"limit": "connections_per_ip", "max": 2}
        assert refusal["message"]

        # Another address is counted on its own.
        other = await _connect_with(tight_hub.url, token, elsewhere)
        assert (await other.call("hold:release", _release_unknown()))["error"]["code"] == (
            "not_found"
        )

        await first.close()
        gateway = tight_hub.app[keys.SOCKETS]
        for _ in range(100):
            if gateway.connected == 2:
                break
            await asyncio.sleep(0.05)
        third = await _connect_with(tight_hub.url, token, here)
        await third.close()
    finally:
        await second.close()
        if other is not None:
            await other.close()


# -- payload size ----------------------------------------------------------------------------


@pytest.mark.parametrize("tight_hub", [{"max_socket_payload_bytes": 2048}], indirect=True)
async def test_an_oversized_event_drops_that_connection_and_the_hub_keeps_serving(
    tight_hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    token = user_token(tight_hub, world)
    huge = {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": "k" * 4096}
    for transport in ("websocket", "polling"):
        sio = socketio.AsyncClient(reconnection=False)
        dropped = asyncio.Event()
        sio.on("disconnect", lambda *_, d=dropped: d.set())
        await sio.connect(
            tight_hub.url, auth={"token": token}, transports=[transport], wait_timeout=5
        )
        try:
            await sio.emit("hold:create", huge)
            await asyncio.wait_for(dropped.wait(), timeout=15)
        finally:
            await sio.disconnect()

    survivor = await connect(tight_hub, token)
    try:
        ack = await survivor.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": "after-the-flood"},
        )
        assert ack["ok"], ack
    finally:
        await survivor.close()

    # REST: the same limit on request bodies, answered as a JSON error.
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{tight_hub.url}/api/v1/holds",
            data=b"{" + b" " * 4096 + b"}",
            headers={"Content-Type": "application/json", **bearer(token)},
        ) as resp,
    ):
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "invalid"


def _handshake(text: str) -> dict[str, Any]:
    import json

    assert text.startswith("0"), text
    return json.loads(text[1:])


# -- heartbeats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tight_hub",
    [{"socket_ping_interval_secs": 7, "socket_ping_timeout_secs": 11}],
    indirect=True,
)
async def test_heartbeat_settings_reach_the_handshake(tight_hub: Hub):
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{tight_hub.url}/socket.io/?EIO=4&transport=polling") as resp,
    ):
        handshake = _handshake(await resp.text())
    assert handshake["pingInterval"] == 7000
    assert handshake["pingTimeout"] == 11000


async def test_default_heartbeats_and_payload_limit_are_announced(hub: Hub):
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{hub.url}/socket.io/?EIO=4&transport=polling") as resp,
    ):
        handshake = _handshake(await resp.text())
    assert handshake["pingInterval"] == 25000
    assert handshake["pingTimeout"] == 30000
    assert handshake["maxPayload"] == 65536


# -- CORS ------------------------------------------------------------------------------------

APP_ORIGIN = "https://app.example"
EVIL_ORIGIN = "https://evil.example"


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


@pytest.mark.parametrize("tight_hub", [{"cors_allowed_origins": [APP_ORIGIN]}], indirect=True)
async def test_rest_cors_answers_listed_origins_only(tight_hub: Hub):
    async with aiohttp.ClientSession() as http:
        async with http.options(
            f"{tight_hub.url}/api/v1/holds", headers=_preflight(APP_ORIGIN)
        ) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
            assert "Access-Control-Allow-Credentials" not in resp.headers
        for refused in (EVIL_ORIGIN, "http://localhost:3000", "null"):
            async with http.options(
                f"{tight_hub.url}/api/v1/holds", headers=_preflight(refused)
            ) as resp:
                assert resp.status == 403, refused
                assert "Access-Control-Allow-Origin" not in resp.headers
                assert (await resp.json())["error"]["code"] == "forbidden"

        async with http.get(f"{tight_hub.url}/healthz", headers={"Origin": APP_ORIGIN}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
            assert "X-Request-Id" in resp.headers["Access-Control-Expose-Headers"]
        async with http.get(f"{tight_hub.url}/healthz", headers={"Origin": EVIL_ORIGIN}) as resp:
            assert resp.status == 200  # the browser, not the hub, withholds the answer
            assert "Access-Control-Allow-Origin" not in resp.headers
        # Errors carry the header too, so a page can read them.
        async with http.get(
            f"{tight_hub.url}/api/v1/nowhere", headers={"Origin": APP_ORIGIN}
        ) as resp:
            assert resp.status == 404
            assert resp.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        # The hub's own origin is always allowed.
        async with http.options(
            f"{tight_hub.url}/api/v1/holds", headers=_preflight(tight_hub.url)
        ) as resp:
            assert resp.status == 204


@pytest.mark.parametrize("tight_hub", [{"cors_allowed_origins": [APP_ORIGIN]}], indirect=True)
async def test_socketio_handshake_is_refused_for_an_unlisted_origin(
    tight_hub: Hub, db: asyncpg.Pool
):
    polling = f"{tight_hub.url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(polling, headers={"Origin": APP_ORIGIN}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
            assert "Access-Control-Allow-Credentials" not in resp.headers
        async with http.get(polling, headers={"Origin": EVIL_ORIGIN}) as resp:
            assert resp.status == 400
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.get(polling) as resp:  # no Origin: not a browser, not CORS
            assert resp.status == 200

    world = await make_world(db)
    token = user_token(tight_hub, world)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await _connect_with(tight_hub.url, token, {"Origin": EVIL_ORIGIN})
    allowed = await _connect_with(tight_hub.url, token, {"Origin": APP_ORIGIN})
    await allowed.close()


async def test_the_embedded_default_allows_local_dev_origins_only(hub: Hub):
    async with aiohttp.ClientSession() as http:
        for origin, status in (
            ("http://localhost:5173", 204),
            ("http://127.0.0.1:3000", 204),
            (EVIL_ORIGIN, 403),
            ("http://localhost.evil.example", 403),
        ):
            async with http.options(f"{hub.url}/api/v1/holds", headers=_preflight(origin)) as resp:
                assert resp.status == status, origin
        polling = f"{hub.url}/socket.io/?EIO=4&transport=polling"
        async with http.get(polling, headers={"Origin": "http://localhost:5173"}) as resp:
            assert resp.status == 200
        async with http.get(polling, headers={"Origin": EVIL_ORIGIN}) as resp:
            assert resp.status == 400
