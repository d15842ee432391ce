"""Accounts and tokens: register, login, refresh rotation with theft detection, logout,
profile, token attacks, key rotation, and live sockets being re-checked."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import asyncpg
import jwt
import pytest
import socketio

from hub.auth import TokenIssuer
from tests.conftest import TEST_JWT_SECRET, hub_settings, start_hub
from tests.support import Hub, bearer, connect, connect_url, eventually, make_world

GOOD_PASSWORD = "Gaṅgā-Jal 2026"


async def _register(http, hub: Hub, tenant_id, **fields) -> aiohttp.ClientResponse:
    body = {"tenant_id": str(tenant_id), "name": "Asha Devi", "password": GOOD_PASSWORD, **fields}
    return await http.post(f"{hub.url}/api/v1/auth/register", json=body)


async def test_register_login_refresh_and_me(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    email = f"asha-{uuid.uuid4().hex[:8]}@example.test"
    async with aiohttp.ClientSession() as http:
        resp = await _register(
            http,
            hub,
            world.tenant_id,
            email=email,
            phone="098765 43210"[:0] + f"9{uuid.uuid4().int % 10**9:09d}",
            language="hi",
        )
        assert resp.status == 201, await resp.text()
        tokens = await resp.json()
        assert tokens["token_type"] == "bearer" and tokens["refresh_token"]
        me = await (
            await http.get(f"{hub.url}/api/v1/me", headers=bearer(tokens["access_token"]))
        ).json()
        assert me["email"] == email and me["role"] == "user" and me["language"] == "hi"
        assert me["phone"].startswith("+919") and len(me["phone"]) == 13
        assert "bookings:create" in me["permissions"]
        assert "catalog:write" not in me["permissions"]
        by_phone = await http.post(
            f"{hub.url}/api/v1/auth/login",
            json={"phone": me["phone"][3:], "password": GOOD_PASSWORD},
        )
        assert by_phone.status == 200
        rotated = await http.post(
            f"{hub.url}/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert rotated.status == 200
        fresh = await rotated.json()
        assert fresh["refresh_token"] != tokens["refresh_token"]
        claims = jwt.decode(fresh["access_token"], options={"verify_signature": False})
        assert claims["sub"] == me["user_id"] and claims["role"] == "user"
        assert claims["tenant_id"] == str(world.tenant_id) and claims["fam"]
        assert jwt.get_unverified_header(fresh["access_token"])["kid"] == "k1"
        assert claims["exp"] - claims["iat"] == 900
        updated = await http.put(
            f"{hub.url}/api/v1/me",
            headers=bearer(fresh["access_token"]),
            json={"name": "Asha D.", "language": "en"},
        )
        assert (await updated.json())["name"] == "Asha D."


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"email": "a@b.co", "password": "short1!"}, "password"),
        ({"email": "a@b.co", "password": "alllowercaseletters"}, "password"),
        ({"email": "a@b.co", "password": "12345678901234"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 415 555 0100"}, "phone"),
        ({}, ""),
        ({"email": "a@b.co", "language": "hindi"}, "language"),
        ({"email": "a@b.co", "role": "platform_admin"}, "role"),
    ],
)
async def test_registration_validation_errors_are_clear(hub: Hub, db: asyncpg.Pool, fields, loc):
    world = await make_world(db)
    async with aiohttp.ClientSession() as http:
        resp = await _register(http, hub, world.tenant_id, **fields)
        body = await resp.json()
    assert resp.status == 422, body
    assert body["error"]["code"] == "invalid"
    assert any(loc in ".".join(d["loc"]) for d in body["error"]["details"])


async def test_duplicate_email_is_a_conflict(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    email = f"dup-{uuid.uuid4().hex[:8]}@example.test"
    async with aiohttp.ClientSession() as http:
        assert (await _register(http, hub, world.tenant_id, email=email)).status == 201
        again = await _register(http, hub, world.tenant_id, email=email.upper())
        assert again.status == 409
        assert (await again.json())["error"]["details"] == {"field": "email"}


async def test_reusing_a_rotated_refresh_token_revokes_the_family_and_drops_sockets(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    email = f"theft-{uuid.uuid4().hex[:8]}@example.test"
    async with aiohttp.ClientSession() as http:
        first = await (await _register(http, hub, world.tenant_id, email=email)).json()
        second = await (
            await http.post(
                f"{hub.url}/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
            )
        ).json()
        client = await connect_url(hub.url, second["access_token"])
        ended: list[dict] = []
        client.sio.on("session:ended", lambda data: ended.append(data))
        stolen = await http.post(
            f"{hub.url}/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert stolen.status == 401
        assert (await stolen.json())["error"]["details"]["reason"] == "refresh_token_reused"
        await eventually(lambda: not client.sio.connected, within=10)
        assert ended and ended[0]["code"] == "unauthorized"
        assert ended[0]["details"]["reason"] == "reuse_detected"
        # The newest token of the family is dead too, and so are its access tokens.
        latest = await http.post(
            f"{hub.url}/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert latest.status == 401
        me = await http.get(f"{hub.url}/api/v1/me", headers=bearer(second["access_token"]))
        assert me.status == 401
        # Logging in again starts a new family that works.
        relog = await http.post(
            f"{hub.url}/api/v1/auth/login", json={"email": email, "password": GOOD_PASSWORD}
        )
        assert relog.status == 200


async def test_logout_ends_that_session_only(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    email = f"logout-{uuid.uuid4().hex[:8]}@example.test"
    async with aiohttp.ClientSession() as http:
        phone_tokens = await (await _register(http, hub, world.tenant_id, email=email)).json()
        laptop = await (
            await http.post(
                f"{hub.url}/api/v1/auth/login", json={"email": email, "password": GOOD_PASSWORD}
            )
        ).json()
        phone = await connect_url(hub.url, phone_tokens["access_token"])
        desk = await connect_url(hub.url, laptop["access_token"])
        try:
            out = await http.post(
                f"{hub.url}/api/v1/auth/logout",
                json={"refresh_token": phone_tokens["refresh_token"]},
            )
            assert out.status == 204
            await eventually(lambda: not phone.sio.connected, within=10)
            await asyncio.sleep(0.3)
            assert desk.sio.connected
            dead = await http.post(
                f"{hub.url}/api/v1/auth/refresh",
                json={"refresh_token": phone_tokens["refresh_token"]},
            )
            assert dead.status == 401
        finally:
            await desk.close()


def _claims(user_id, tenant_id, **extra):
    now = int(time.time())
    return {
        "sub": str(user_id),
        "tenant_id": str(tenant_id),
        "role": "user",
        "perms": ["bookings:create", "availability:read"],
        "iat": now,
        "exp": now + 600,
        **extra,
    }


async def test_forged_expired_none_wrong_kid_and_rs256_tokens_are_refused(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    base = _claims(world.user_ids[0], world.tenant_id)
    bad = {
        "forged": jwt.encode(base, "x" * 40, algorithm="HS256", headers={"kid": "k1"}),
        "expired": jwt.encode(
            {**base, "exp": base["iat"] - 5},
            TEST_JWT_SECRET,
            algorithm="HS256",
            headers={"kid": "k1"},
        ),
        "none": jwt.encode(base, None, algorithm="none", headers={"kid": "k1"}),
        "unknown-kid": jwt.encode(base, TEST_JWT_SECRET, algorithm="HS256", headers={"kid": "k9"}),
        "hs512": jwt.encode(base, TEST_JWT_SECRET, algorithm="HS512", headers={"kid": "k1"}),
        "no-kid": jwt.encode(base, TEST_JWT_SECRET, algorithm="HS256"),
        "bad-role": jwt.encode(
            {**base, "role": "god"}, TEST_JWT_SECRET, algorithm="HS256", headers={"kid": "k1"}
        ),
    }
    # RS/HS confusion: a token whose header claims RS256, "signed" with our HMAC key as if it
    # were a public key, must not verify.
    header = jwt.utils.base64url_encode(b'{"alg":"RS256","kid":"k1","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(base).encode()).decode()
    import hashlib
    import hmac

    sig = hmac.new(TEST_JWT_SECRET.encode(), f"{header}.{body}".encode(), hashlib.sha256)
    bad["rs256-confusion"] = f"{header}.{body}.{jwt.utils.base64url_encode(sig.digest()).decode()}"
    async with aiohttp.ClientSession() as http:
        for name, token in bad.items():
            resp = await http.get(f"{hub.url}/api/v1/me", headers=bearer(token))
            assert resp.status == 401, name
            assert (await resp.json())["error"]["code"] == "unauthorized"
            sio = socketio.AsyncClient(reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await sio.connect(
                    hub.url, auth={"token": token}, transports=["websocket"], wait_timeout=5
                )
    good = jwt.encode(base, TEST_JWT_SECRET, algorithm="HS256", headers={"kid": "k1"})
    client = await connect_url(hub.url, good)
    await client.close()


def test_rotated_keys_sign_with_the_active_kid_and_still_verify_old_ones():
    old_key, new_key = "o" * 40, "n" * 40
    before = TokenIssuer({"k1": old_key}, active_kid="k1", ttl_secs=900)
    after = TokenIssuer({"k2": new_key, "k1": old_key}, active_kid="k2", ttl_secs=900)
    retired = TokenIssuer({"k2": new_key}, active_kid="k2", ttl_secs=900)
    user = uuid.uuid4()
    old_token = before.issue(user_id=user, tenant_id=None, role="platform_admin")
    new_token = after.issue(user_id=user, tenant_id=None, role="platform_admin")
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert after.verify(old_token).user_id == user
    assert after.verify(new_token).user_id == user
    assert retired.verify(new_token).user_id == user
    with pytest.raises(Exception, match="unknown signing key"):
        retired.verify(old_token)


async def test_a_token_cannot_claim_more_permissions_than_its_role(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    greedy = jwt.encode(
        _claims(world.user_ids[0], world.tenant_id, perms=["tenants:manage", "catalog:write"]),
        TEST_JWT_SECRET,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{hub.url}/api/v1/admin/tenants", headers=bearer(greedy))
    assert resp.status == 403


async def test_an_expiring_token_disconnects_its_socket_unless_renewed(
    migrated_dsn: str, ray_session: None, db: asyncpg.Pool
):
    quick, runner = await start_hub(hub_settings(session_check_secs=0.2), migrated_dsn)
    try:
        world = await make_world(db)
        soon = jwt.encode(
            _claims(world.user_ids[0], world.tenant_id, exp=int(time.time()) + 2),
            TEST_JWT_SECRET,
            algorithm="HS256",
            headers={"kid": "k1"},
        )
        dying = await connect(quick, soon)
        renewed = await connect(quick, soon)
        ended: list[dict] = []
        dying.sio.on("session:ended", lambda data: ended.append(data))
        fresh = quick.tokens.issue(
            user_id=world.user_ids[0], tenant_id=world.tenant_id, role="user"
        )
        ack = await renewed.call("session:renew", {"token": fresh})
        assert ack["ok"], ack
        await eventually(lambda: not dying.sio.connected, within=10)
        assert ended[0]["details"]["reason"] == "token_expired"
        assert renewed.sio.connected
        await renewed.close()
    finally:
        await runner.cleanup()
