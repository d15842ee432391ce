"""The REST fallback: login, availability, holds with Idempotency-Key, health and readiness."""

from __future__ import annotations

import uuid

import aiohttp
import asyncpg

from hub import keys
from tests.support import Hub, connect, eventually, make_world, user_token


async def test_login_returns_a_token_the_socket_accepts(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    email = f"login-{uuid.uuid4().hex[:8]}@example.test"
    password_hash = hub.app[keys.PASSWORDS].hash("correct horse battery")
    async with db.acquire() as conn:
        await conn.execute(
            "INSERT INTO users (tenant_id, email, name, role, password_hash) "
            "VALUES ($1, $2, 'Devotee', 'user', $3)",
            world.tenant_id,
            email,
            password_hash,
        )
    async with aiohttp.ClientSession() as http:
        bad = await http.post(
            f"{hub.url}/api/v1/auth/login", json={"email": email, "password": "wrong"}
        )
        assert bad.status == 401
        resp = await http.post(
            f"{hub.url}/api/v1/auth/login",
            json={"email": email.upper(), "password": "correct horse battery"},
        )
        assert resp.status == 200
        body = await resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    client = await connect(hub, body["access_token"])
    try:
        ack = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": "after-login"},
        )
        assert ack["ok"], ack
    finally:
        await client.close()


async def test_rest_hold_with_idempotency_key_header_is_created_once_and_released(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=3)
    watcher = await connect(hub, user_token(hub, world))
    headers = {"Authorization": f"Bearer {user_token(hub, world)}", "Idempotency-Key": "rest-1"}
    body = {"slot_id": str(world.slot_ids[0]), "qty": 2}
    url = f"{hub.url}/api/v1/tenants/{world.tenant_id}/resources/{world.resource_id}/availability"
    try:
        sub = await watcher.call(
            "availability:subscribe",
            {
                "tenant_id": str(world.tenant_id),
                "resource_id": str(world.resource_id),
                "date": world.date,
            },
        )
        async with aiohttp.ClientSession(headers=headers) as http:
            first = await http.post(f"{hub.url}/api/v1/holds", json=body)
            second = await http.post(f"{hub.url}/api/v1/holds", json=body)
            assert first.status == second.status == 201
            hold = await first.json()
            assert hold == await second.json()
            assert hold["status"] == "held" and hold["qty"] == 2
            avail = await (await http.get(url, params={"date": world.date})).json()
            assert avail["stream"] == sub["data"]["stream"]
            assert avail["slots"][0]["available"] == 1
            assert avail["seq"] == sub["data"]["seq"] + 1
            short = await http.post(
                f"{hub.url}/api/v1/holds", json=body, headers={"Idempotency-Key": "rest-2"}
            )
            assert short.status == 409
            assert (await short.json())["error"]["code"] == "sold_out"
            gone = await http.delete(f"{hub.url}/api/v1/holds/{hold['hold_id']}")
            assert gone.status == 200
            assert (await gone.json())["status"] == "released"
            avail = await (await http.get(url, params={"date": world.date})).json()
            assert avail["slots"][0]["available"] == 3
        await eventually(lambda: len(watcher.deltas) == 2)
        assert [d["slots"][0]["available"] for d in watcher.deltas] == [1, 3]
    finally:
        await watcher.close()


async def test_healthz_and_readyz_report_postgres_and_ray(hub: Hub):
    async with aiohttp.ClientSession() as http:
        health = await http.get(f"{hub.url}/healthz")
        assert health.status == 200
        ready = await http.get(f"{hub.url}/readyz")
        assert ready.status == 200
        body = await ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["postgres"]["ok"] is True
    assert body["checks"]["ray"]["ok"] is True
