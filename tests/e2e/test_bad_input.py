"""Bad input gets the documented error and writes nothing, over Socket.IO and REST."""

from __future__ import annotations

import uuid

import aiohttp
import asyncpg
import pytest
import socketio

from tests.support import Hub, connect, make_world, user_token


async def _rows(db: asyncpg.Pool, tenant_id: uuid.UUID) -> tuple[int, int, int]:
    async with db.acquire() as conn:
        holds = await conn.fetchval("SELECT count(*) FROM holds WHERE tenant_id = $1", tenant_id)
        events = await conn.fetchval(
            "SELECT count(*) FROM availability_events WHERE tenant_id = $1", tenant_id
        )
        held = await conn.fetchval(
            "SELECT coalesce(sum(held_qty), 0) FROM slots WHERE tenant_id = $1", tenant_id
        )
    return holds, events, held


BAD_HOLDS = [
    pytest.param(None, "invalid", id="no-payload"),
    pytest.param("slot", "invalid", id="string-payload"),
    pytest.param([1, 2], "invalid", id="list-payload"),
    pytest.param({}, "invalid", id="empty-object"),
    pytest.param(
        {"slot_id": "not-a-uuid", "qty": 1, "idempotency_key": "k"}, "invalid", id="slot-not-uuid"
    ),
    pytest.param(
        {"slot_id": "{slot}", "qty": "1", "idempotency_key": "k"}, "invalid", id="qty-as-string"
    ),
    pytest.param(
        {"slot_id": "{slot}", "qty": 1.5, "idempotency_key": "k"}, "invalid", id="qty-float"
    ),
    pytest.param(
        {"slot_id": "{slot}", "qty": -1, "idempotency_key": "k"}, "invalid", id="negative-qty"
    ),
    pytest.param({"slot_id": "{slot}", "qty": 0, "idempotency_key": "k"}, "invalid", id="zero-qty"),
    pytest.param(
        {"slot_id": "{slot}", "qty": True, "idempotency_key": "k"}, "invalid", id="qty-bool"
    ),
    pytest.param(
        {"slot_id": "{slot}", "qty": 10**12, "idempotency_key": "k"}, "invalid", id="huge-qty"
    ),
    pytest.param({"slot_id": "{slot}", "qty": 1}, "invalid", id="missing-key"),
    pytest.param(
        {"slot_id": "{slot}", "qty": 1, "idempotency_key": "k" * 5000}, "invalid", id="oversize-key"
    ),
    pytest.param(
        {"slot_id": "{slot}", "qty": 1, "idempotency_key": "has space"},
        "invalid",
        id="key-with-space",
    ),
    pytest.param(
        {"slot_id": "{slot}", "qty": 1, "idempotency_key": "k", "extra": 1},
        "invalid",
        id="unknown-field",
    ),
    pytest.param(
        {"slot_id": str(uuid.uuid4()), "qty": 1, "idempotency_key": "k"},
        "not_found",
        id="unknown-slot",
    ),
]


def _fill(payload, slot: str):
    if isinstance(payload, dict):
        return {k: (slot if v == "{slot}" else v) for k, v in payload.items()}
    return payload


@pytest.mark.parametrize(("payload", "code"), BAD_HOLDS)
async def test_bad_hold_create_is_refused_and_writes_nothing(
    hub: Hub, db: asyncpg.Pool, payload, code
):
    world = await make_world(db)
    client = await connect(hub, user_token(hub, world))
    try:
        ack = await client.call("hold:create", _fill(payload, str(world.slot_ids[0])))
        assert ack["ok"] is False
        assert ack["error"]["code"] == code
        assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
        assert "Traceback" not in str(ack)
        assert await _rows(db, world.tenant_id) == (0, 0, 0)
    finally:
        await client.close()


async def test_oversize_strings_are_not_echoed_back(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    client = await connect(hub, user_token(hub, world))
    try:
        secret = "x" * 3000
        ack = await client.call(
            "hold:create", {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": secret}
        )
        assert ack["error"]["code"] == "invalid"
        assert secret not in str(ack)
        assert ack["error"]["details"][0]["loc"] == ["idempotency_key"]
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        pytest.param(
            {"tenant_id": "x", "resource_id": "y", "date": "2026-01-01"},
            "invalid",
            id="ids-not-uuid",
        ),
        pytest.param(
            {"tenant_id": "{t}", "resource_id": "{r}", "date": "2026-02-30"},
            "invalid",
            id="impossible-date",
        ),
        pytest.param(
            {"tenant_id": "{t}", "resource_id": "{r}", "date": "22/11/2026"},
            "invalid",
            id="wrong-date-format",
        ),
        pytest.param(
            {"tenant_id": "{t}", "resource_id": "{r}", "date": "{d}", "since": -1},
            "invalid",
            id="negative-since",
        ),
        pytest.param(
            {"tenant_id": "{t}", "resource_id": "{r}", "date": "{d}", "since": "3"},
            "invalid",
            id="since-as-string",
        ),
        pytest.param(
            {"tenant_id": "{t}", "resource_id": str(uuid.uuid4()), "date": "{d}"},
            "not_found",
            id="unknown-resource",
        ),
        pytest.param(
            {"tenant_id": str(uuid.uuid4()), "resource_id": "{r}", "date": "{d}"},
            "not_found",
            id="other-tenant",
        ),
    ],
)
async def test_bad_subscribe_is_refused(hub: Hub, db: asyncpg.Pool, payload, code):
    world = await make_world(db)
    client = await connect(hub, user_token(hub, world))
    subs = {"{t}": str(world.tenant_id), "{r}": str(world.resource_id), "{d}": world.date}
    try:
        ack = await client.call(
            "availability:subscribe", {k: subs.get(v, v) for k, v in payload.items()}
        )
        assert ack["ok"] is False
        assert ack["error"]["code"] == code
    finally:
        await client.close()


async def test_release_of_unknown_hold_is_not_found(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    client = await connect(hub, user_token(hub, world))
    try:
        ack = await client.call("hold:release", {"hold_id": str(uuid.uuid4())})
        assert ack["error"]["code"] == "not_found"
        ack = await client.call("availability:unsubscribe", {"stream": "availability:nope"})
        assert ack["error"]["code"] == "not_found"
    finally:
        await client.close()


async def test_another_tenants_slot_looks_missing(hub: Hub, db: asyncpg.Pool):
    mine = await make_world(db)
    theirs = await make_world(db)
    client = await connect(hub, user_token(hub, mine))
    try:
        ack = await client.call(
            "hold:create",
            {"slot_id": str(theirs.slot_ids[0]), "qty": 1, "idempotency_key": "cross-tenant"},
        )
        assert ack["error"]["code"] == "not_found"
        assert await _rows(db, theirs.tenant_id) == (0, 0, 0)
    finally:
        await client.close()


@pytest.mark.parametrize(
    "auth",
    [None, {}, {"token": ""}, {"token": "not.a.jwt"}, {"token": 12}, "just-a-string"],
    ids=["no-auth", "empty-auth", "empty-token", "garbage-token", "number-token", "string-auth"],
)
async def test_connection_without_a_valid_token_is_refused_with_a_reason(hub: Hub, auth):
    sio = socketio.AsyncClient(reconnection=False)
    reasons: list[object] = []
    sio.on("connect_error", lambda data: reasons.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(hub.url, auth=auth, transports=["websocket"], wait_timeout=5)
    assert reasons and reasons[0]["code"] == "unauthorized"
    assert reasons[0]["message"]


async def test_expired_token_is_refused(hub: Hub, db: asyncpg.Pool):
    import jwt

    world = await make_world(db)
    token = user_token(hub, world)
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["exp"] = claims["iat"] - 10
    from tests.conftest import TEST_JWT_SECRET

    expired = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256", headers={"kid": "k1"})
    forged = jwt.encode(
        {**claims, "exp": claims["iat"] + 900},
        "wrong-secret" * 4,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    unsigned = jwt.encode({**claims, "exp": claims["iat"] + 900}, None, algorithm="none")
    for bad in (expired, forged, unsigned):
        sio = socketio.AsyncClient(reconnection=False)
        reasons: list[object] = []
        sio.on("connect_error", lambda data, r=reasons: r.append(data))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(
                hub.url, auth={"token": bad}, transports=["websocket"], wait_timeout=5
            )
        assert reasons[0]["code"] == "unauthorized"


async def test_flooding_a_socket_is_rate_limited(
    migrated_dsn: str, ray_session: None, db: asyncpg.Pool
):
    from tests.conftest import hub_settings, start_hub

    tight, runner = await start_hub(
        hub_settings(socket_events_per_sec=1.0, socket_burst=3), migrated_dsn
    )
    try:
        world = await make_world(db)
        client = await connect(tight, user_token(tight, world))
        try:
            acks = [
                await client.call("hold:release", {"hold_id": str(uuid.uuid4())}) for _ in range(6)
            ]
            codes = [a["error"]["code"] for a in acks]
            assert codes[:3] == ["not_found"] * 3
            assert "rate_limited" in codes[3:]
        finally:
            await client.close()
    finally:
        await runner.cleanup()


async def test_rest_errors_are_json_with_the_right_status(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    auth = {"Authorization": f"Bearer {user_token(hub, world)}"}
    slot = str(world.slot_ids[0])
    cases = [
        ("POST", "/api/v1/holds", {}, '{"slot_id": ', 401, "unauthorized"),
        ("POST", "/api/v1/holds", auth, '{"slot_id": ', 400, "invalid"),
        ("POST", "/api/v1/holds", auth, "[]", 422, "invalid"),
        ("POST", "/api/v1/holds", auth, f'{{"slot_id": "{slot}", "qty": -2}}', 422, "invalid"),
        ("POST", "/api/v1/holds", auth, f'{{"slot_id": "{slot}", "qty": 1}}', 422, "invalid"),
        ("DELETE", "/api/v1/holds/not-a-uuid", auth, None, 422, "invalid"),
        ("DELETE", f"/api/v1/holds/{uuid.uuid4()}", auth, None, 404, "not_found"),
        (
            "GET",
            f"/api/v1/tenants/{world.tenant_id}/resources/{world.resource_id}/availability",
            auth,
            None,
            422,
            "invalid",
        ),
        (
            "GET",
            f"/api/v1/tenants/{world.tenant_id}/resources/{world.resource_id}/availability"
            "?date=2026-13-01",
            auth,
            None,
            422,
            "invalid",
        ),
        (
            "GET",
            f"/api/v1/tenants/{world.tenant_id}/resources/{world.resource_id}/availability"
            f"?date={world.date}",
            {},
            None,
            401,
            "unauthorized",
        ),
        ("GET", "/api/v1/nowhere", {}, None, 404, "not_found"),
        ("PUT", "/api/v1/holds", auth, "{}", 405, "invalid"),
        ("POST", "/api/v1/auth/login", {}, '{"email": "x@y.z"}', 422, "invalid"),
        (
            "POST",
            "/api/v1/auth/login",
            {},
            '{"email": "nobody@example.test", "password": "p"}',
            401,
            "unauthorized",
        ),
        ("GET", "/api/v1/demo", {}, None, 404, "not_found"),
    ]
    async with aiohttp.ClientSession() as http:
        for method, path, headers, body, status, code in cases:
            async with http.request(method, hub.url + path, headers=headers, data=body) as resp:
                payload = await resp.json()
                assert resp.status == status, (method, path, resp.status, payload)
                assert payload["error"]["code"] == code, (method, path, payload)
                assert set(payload["error"]) == {"code", "message", "details"}
    assert await _rows(db, world.tenant_id) == (0, 0, 0)
