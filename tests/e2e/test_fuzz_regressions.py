"""Inputs the fuzzers (test_fuzz_rest.py, test_fuzz_socket_schemas.py) found answering 500
``internal``; each now gets its documented error and writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg

from tests.support import Hub, bearer, make_user, make_world, staff_token, token_for, user_token


async def _send(
    hub: Hub,
    method: str,
    path: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    headers = {**(bearer(token) if token else {}), **(headers or {})}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, hub.url + path, headers=headers, **kwargs) as resp,
    ):
        return resp.status, await resp.json()


async def test_deducting_credits_of_a_tenant_that_does_not_exist_is_not_found(
    hub: Hub, db: asyncpg.Pool
):
    admin = await make_user(db, tenant_id=None, role="platform_admin")
    missing = uuid.uuid4()
    status, body = await _send(
        hub,
        "POST",
        "/api/v1/credits/deduct",
        token=token_for(hub, admin, None, "platform_admin"),
        json={"tenant_id": str(missing), "channel": "SMS", "units": 1, "transfer_id": "t-1"},
    )
    assert status == 404, body
    assert body["error"]["code"] == "not_found"
    async with db.acquire() as conn:
        accounts = await conn.fetchval(
            "SELECT count(*) FROM ledger_accounts WHERE tenant_id = $1", missing
        )
    assert accounts == 0


async def test_a_file_url_signature_with_non_ascii_characters_is_refused_not_a_crash(hub: Hub):
    status, body = await _send(
        hub,
        "PUT",
        "/api/v1/files/some-key?content_type=text/plain&expires=0&max_bytes=10&signature=%C2%80",
        data=b"hello",
        headers={"Content-Type": "text/plain"},
    )
    assert status == 403, body
    assert body["error"]["code"] == "forbidden"
    assert body["error"]["details"] == {"reason": "signature_invalid"}


async def test_a_qr_token_with_a_non_ascii_signature_is_invalid_not_a_crash(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    token = f"v1.{uuid.uuid4().hex}.{world.tenant_id.hex}.9999999999.é"
    status, body = await _send(
        hub,
        "POST",
        "/api/v1/attendance/check-in",
        token=staff_token(hub, world),
        json={"qr_token": token},
    )
    assert status == 422, body
    assert body["error"]["code"] == "invalid"
    assert body["error"]["details"]["reason"] == "qr_signature"


async def test_quiet_hours_in_another_scripts_digits_are_invalid_not_a_crash(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    token = user_token(hub, world)
    for start in ("1౮:30", "१२:३०"):
        status, body = await _send(
            hub,
            "PUT",
            "/api/v1/me/notification-preferences",
            token=token,
            json={"quiet_hours": {"start": start, "end": "07:00"}},
        )
        assert status == 422, body
        assert body["error"]["code"] == "invalid"
    status, body = await _send(hub, "GET", "/api/v1/me/notification-preferences", token=token)
    assert status == 200 and body.get("quiet_hours") is None, body


async def test_text_with_a_nul_character_is_invalid_not_a_failed_write(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    status, body = await _send(
        hub,
        "PUT",
        "/api/v1/me",
        token=user_token(hub, world),
        json={"name": "Dev\u0000otee"},
    )
    assert status == 422, body
    assert body["error"]["code"] == "invalid"
    async with db.acquire() as conn:
        name = await conn.fetchval("SELECT name FROM users WHERE id = $1", world.user_ids[0])
    assert name == "Devotee"


async def test_a_body_nested_deeper_than_the_parser_goes_is_a_400_not_a_crash(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    status, body = await _send(
        hub,
        "POST",
        "/api/v1/holds",
        token=user_token(hub, world),
        data=b"[" * 20_000 + b"]" * 20_000,
        headers={"Content-Type": "application/json"},
    )
    assert status == 400, body
    assert body["error"]["code"] == "invalid"
