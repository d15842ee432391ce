"""Tenancy and roles: permissions on every route and event, RLS, cross-tenant attempts,
suspension, plan limits, audit, login throttling across hub processes, hostile strings."""

from __future__ import annotations

import re
import time
import uuid

import aiohttp
import asyncpg
import jwt
import pytest
import socketio

from hub import keys
from hub.guard import permission_of
from hub.sockets import EVENT_PERMISSIONS
from protocols.permissions import Perm
from storage.tenancy import tenant_scope
from tests.conftest import TEST_JWT_SECRET, hub_settings, start_hub
from tests.support import (
    Hub,
    bearer,
    connect,
    eventually,
    make_user,
    make_world,
    subscribe,
    token_for,
    user_token,
)

OPEN = {Perm.PUBLIC, Perm.AUTHENTICATED}


def _guarded_routes(hub: Hub):
    for route in hub.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/socket.io"):
            continue
        yield route.method, path, route.handler


def test_every_route_and_event_declares_a_permission(hub: Hub):
    missing = [(m, p) for m, p, h in _guarded_routes(hub) if permission_of(h) is None]
    assert missing == []
    events = set(hub.app[keys.SIO].handlers["/"]) - {"connect", "disconnect"}
    assert events and events <= set(EVENT_PERMISSIONS)


async def test_a_caller_without_the_permission_gets_forbidden_everywhere(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    now = int(time.time())
    # A real platform admin whose token was narrowed to no permissions at all.
    admin_id = await make_user(db, tenant_id=None, role="platform_admin")
    powerless = jwt.encode(
        {
            "sub": str(admin_id),
            "tenant_id": None,
            "role": "platform_admin",
            "perms": [],
            "iat": now,
            "exp": now + 600,
        },
        TEST_JWT_SECRET,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    checked = 0
    async with aiohttp.ClientSession() as http:
        for method, path, handler in _guarded_routes(hub):
            if method == "HEAD" or permission_of(handler) in OPEN:
                continue
            url = hub.url + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            async with http.request(method, url, headers=bearer(powerless), json={}) as resp:
                body = await resp.json()
                assert resp.status == 403, (method, path, body)
                assert body["error"]["code"] == "forbidden"
                checked += 1
    assert checked >= 10
    client = await connect(hub, powerless)
    try:
        for event, perm in EVENT_PERMISSIONS.items():
            if perm in OPEN:
                continue
            ack = await client.call(event, {})
            assert ack["error"]["code"] == "forbidden", event
    finally:
        await client.close()
    del world


async def test_users_and_staff_cannot_reach_admin_routes(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    async with aiohttp.ClientSession() as http:
        for token in (
            user_token(hub, world),
            token_for(hub, world.staff_id, world.tenant_id, "staff"),
        ):
            for method, path in [
                ("GET", "/api/v1/admin/tenants"),
                ("GET", "/api/v1/staff"),
                ("POST", "/api/v1/staff"),
                ("GET", "/api/v1/admin/audit"),
            ]:
                resp = await http.request(method, hub.url + path, headers=bearer(token), json={})
                assert resp.status == 403, (path, await resp.text())


async def test_row_level_security_hides_other_tenants_from_an_unfiltered_query(
    db: asyncpg.Pool, hub: Hub
):
    mine = await make_world(db, slots=3)
    theirs = await make_world(db, slots=2)
    async with tenant_scope(db, mine.tenant_id) as conn:
        slot_tenants = {r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM slots")}
        users_seen = await conn.fetchval("SELECT count(*) FROM users")
        tenants_seen = await conn.fetch("SELECT id FROM tenants")
        forged = await conn.execute(
            "UPDATE slots SET capacity = 0 WHERE id = $1", theirs.slot_ids[0]
        )
    assert slot_tenants == {mine.tenant_id}
    assert users_seen == 2  # the world's one user and one staff member
    assert [t["id"] for t in tenants_seen] == [mine.tenant_id]
    assert forged == "UPDATE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_scope(db, mine.tenant_id) as conn:
            await conn.execute(
                "INSERT INTO resources (tenant_id, kind, name) VALUES ($1, 'puja', 'x')",
                theirs.tenant_id,
            )


async def test_cross_tenant_ids_answer_not_found_and_change_nothing(hub: Hub, db: asyncpg.Pool):
    mine = await make_world(db)
    theirs = await make_world(db, users=1)
    their_client = await connect(hub, user_token(hub, theirs))
    their_hold = (
        await their_client.call(
            "hold:create", {"slot_id": str(theirs.slot_ids[0]), "qty": 1, "idempotency_key": "x"}
        )
    )["data"]
    await their_client.close()
    admin = await make_user(db, tenant_id=mine.tenant_id, role="tenant_admin")
    admin_token = token_for(hub, admin, mine.tenant_id, "tenant_admin")
    me = await connect(hub, admin_token)
    try:
        for event, payload in [
            ("hold:create", {"slot_id": str(theirs.slot_ids[0]), "qty": 1, "idempotency_key": "y"}),
            ("hold:release", {"hold_id": their_hold["hold_id"]}),
            (
                "availability:subscribe",
                {
                    "tenant_id": str(theirs.tenant_id),
                    "resource_id": str(theirs.resource_id),
                    "date": theirs.date,
                },
            ),
        ]:
            ack = await me.call(event, payload)
            assert ack["error"]["code"] == "not_found", (event, ack)
    finally:
        await me.close()
    async with aiohttp.ClientSession(headers=bearer(admin_token)) as http:
        avail = await http.get(
            f"{hub.url}/api/v1/tenants/{theirs.tenant_id}/resources/{theirs.resource_id}"
            f"/availability",
            params={"date": theirs.date},
        )
        assert avail.status == 404
        release = await http.delete(f"{hub.url}/api/v1/holds/{their_hold['hold_id']}")
        assert release.status == 404
        assign = await http.put(
            f"{hub.url}/api/v1/staff/{theirs.staff_id}/assignments",
            json={"resource_ids": [str(theirs.resource_id)]},
        )
        assert assign.status == 404
    async with db.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM holds WHERE id = $1", uuid.UUID(their_hold["hold_id"])
        )
        held = await conn.fetchval("SELECT held_qty FROM slots WHERE id = $1", theirs.slot_ids[0])
        assigned = await conn.fetchval(
            "SELECT count(*) FROM staff_assignments WHERE user_id = $1", theirs.staff_id
        )
    assert (status, held, assigned) == ("held", 1, 0)


async def test_suspending_a_tenant_stops_its_users_everywhere_until_reactivated(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    op = bearer(token_for(hub, operator, None, "platform_admin"))
    devotee = await connect(hub, user_token(hub, world))
    ended: list[dict] = []
    devotee.sio.on("session:ended", lambda data: ended.append(data))
    await subscribe(devotee, world)
    async with aiohttp.ClientSession() as http:
        url = f"{hub.url}/api/v1/admin/tenants/{world.tenant_id}"
        suspended = await http.post(f"{url}/suspend", headers=op)
        assert (await suspended.json())["status"] == "suspended"
        await eventually(lambda: not devotee.sio.connected, within=10)
        assert ended[0]["code"] == "tenant_suspended"
        me = await http.get(f"{hub.url}/api/v1/me", headers=bearer(user_token(hub, world)))
        assert me.status == 403
        assert (await me.json())["error"]["code"] == "tenant_suspended"
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect(hub, user_token(hub, world))
        back = await http.post(f"{url}/reactivate", headers=op)
        assert (await back.json())["status"] == "active"
        me = await http.get(f"{hub.url}/api/v1/me", headers=bearer(user_token(hub, world)))
        assert me.status == 200
        audit = await (
            await http.get(
                f"{hub.url}/api/v1/admin/audit",
                headers=op,
                params={"tenant_id": str(world.tenant_id)},
            )
        ).json()
        actions = [e["action"] for e in audit["entries"]]
        assert actions[:2] == ["tenant.reactivated", "tenant.suspended"]
        assert audit["entries"][1]["before"] == {"status": "active"}
        assert audit["entries"][1]["actor_user_id"] == str(operator)


async def test_platform_admin_creates_a_tenant_whose_admin_hits_the_staff_limit(
    hub: Hub, db: asyncpg.Pool
):
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    op = bearer(token_for(hub, operator, None, "platform_admin"))
    slug = f"temple-{uuid.uuid4().hex[:8]}"
    admin_email = f"admin-{slug}@example.test"
    async with aiohttp.ClientSession() as http:
        created = await http.post(
            f"{hub.url}/api/v1/admin/tenants",
            headers=op,
            json={
                "slug": slug,
                "name": "Shri Ram Mandir",
                "kind": "temple",
                "plan": {"max_staff": 2},
                "admin": {"email": admin_email, "name": "Mahant", "password": "Ram-Ram 1008"},
            },
        )
        assert created.status == 201, await created.text()
        tenant = await created.json()
        dup = await http.post(
            f"{hub.url}/api/v1/admin/tenants",
            headers=op,
            json={"slug": slug, "name": "Again", "kind": "temple"},
        )
        assert dup.status == 409
        login = await (
            await http.post(
                f"{hub.url}/api/v1/auth/login",
                json={"email": admin_email, "password": "Ram-Ram 1008"},
            )
        ).json()
        admin = bearer(login["access_token"])
        staff = {
            "email": f"pandit-{slug}@example.test",
            "name": "Pandit Ji",
            "password": "Om Namah 108",
        }
        first = await http.post(f"{hub.url}/api/v1/staff", headers=admin, json=staff)
        assert first.status == 201, await first.text()
        over = await http.post(
            f"{hub.url}/api/v1/staff",
            headers=admin,
            json={**staff, "email": f"second-{slug}@example.test"},
        )
        assert over.status == 403
        assert (await over.json())["error"]["code"] == "limit_exceeded"
        listed = await (await http.get(f"{hub.url}/api/v1/staff", headers=admin)).json()
        assert sorted(s["role"] for s in listed["staff"]) == ["staff", "tenant_admin"]
        audit = await (await http.get(f"{hub.url}/api/v1/admin/audit", headers=admin)).json()
        assert {e["tenant_id"] for e in audit["entries"]} == {tenant["tenant_id"]}
        assert "staff.created" in [e["action"] for e in audit["entries"]]


async def test_sixth_bad_password_is_throttled_across_two_hub_processes(
    migrated_dsn: str, ray_session: None, db: asyncpg.Pool
):
    settings = {"login_max_failures": 5, "trust_forwarded_for": True}
    hub_a, runner_a = await start_hub(hub_settings(**settings), migrated_dsn)
    hub_b, runner_b = await start_hub(hub_settings(**settings), migrated_dsn)
    world = await make_world(db)
    email = f"throttle-{uuid.uuid4().hex[:8]}@example.test"
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    try:
        async with aiohttp.ClientSession(headers={"X-Forwarded-For": ip}) as http:
            made = await http.post(
                f"{hub_a.url}/api/v1/auth/register",
                json={
                    "tenant_id": str(world.tenant_id),
                    "email": email,
                    "name": "Ravi",
                    "password": "Correct-Horse 9",
                },
            )
            assert made.status == 201
            for attempt in range(5):
                target = (hub_a, hub_b)[attempt % 2]
                bad = await http.post(
                    f"{target.url}/api/v1/auth/login",
                    json={"email": email, "password": f"wrong-{attempt}"},
                )
                assert bad.status == 401
            sixth = await http.post(
                f"{hub_b.url}/api/v1/auth/login",
                json={"email": email, "password": "Correct-Horse 9"},
            )
            assert sixth.status == 429
            assert (await sixth.json())["error"]["code"] == "rate_limited"
            assert 1 <= int(sixth.headers["Retry-After"]) <= 900
            # The address is locked too, whatever account it tries next.
            other = await http.post(
                f"{hub_a.url}/api/v1/auth/login",
                json={"email": "someone@example.test", "password": "x"},
            )
            assert other.status == 429
        async with db.acquire() as conn:
            failures = await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' "
                "AND tenant_id = $1",
                world.tenant_id,
            )
        assert failures == 5
    finally:
        await runner_a.cleanup()
        await runner_b.cleanup()


HOSTILE = [
    "Robert'); DROP TABLE users;--",
    "<script>alert('jai')</script>",
    '" OR 1=1 --',
    "${jndi:ldap://x}",
    "राम 🙏 \\x00",
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_strings_are_stored_and_returned_verbatim(hub: Hub, db: asyncpg.Pool, text):
    world = await make_world(db)
    async with aiohttp.ClientSession() as http:
        made = await http.post(
            f"{hub.url}/api/v1/auth/register",
            json={
                "tenant_id": str(world.tenant_id),
                "email": f"h-{uuid.uuid4().hex[:8]}@example.test",
                "name": text,
                "password": "Hostile-Str1ng",
            },
        )
        assert made.status == 201, await made.text()
        me = await (
            await http.get(
                f"{hub.url}/api/v1/me", headers=bearer((await made.json())["access_token"])
            )
        ).json()
    assert me["name"] == text
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT to_regclass('users')") is not None
