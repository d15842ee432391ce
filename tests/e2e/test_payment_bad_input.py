"""Bad bodies on the payment, refund, cancellation and credits routes: a clear 4xx error in
the standard shape, and nothing written."""

from __future__ import annotations

import uuid

import aiohttp
import asyncpg
import pytest

from tests.support import Hub, bearer, make_user, make_world, token_for

BAD_INTENTS = [
    pytest.param({}, id="empty"),
    pytest.param({"purpose": "donation", "ref": "{hold}"}, id="unknown-purpose"),
    pytest.param({"purpose": "hold"}, id="hold-without-ref"),
    pytest.param({"purpose": "hold", "ref": "not-a-uuid"}, id="ref-not-uuid"),
    pytest.param({"purpose": "wallet_topup"}, id="topup-without-amount"),
    pytest.param({"purpose": "wallet_topup", "amount_paise": -100}, id="negative-amount"),
    pytest.param({"purpose": "wallet_topup", "amount_paise": 10.5}, id="float-amount"),
    pytest.param({"purpose": "wallet_topup", "amount_paise": "500"}, id="string-amount"),
    pytest.param({"purpose": "hold", "ref": "{hold}", "extra": 1}, id="unknown-field"),
]


async def _counts(db: asyncpg.Pool, tenant_id: uuid.UUID) -> tuple[int, int, int]:
    async with db.acquire() as conn:
        intents = await conn.fetchval(
            "SELECT count(*) FROM payment_intents WHERE tenant_id = $1", tenant_id
        )
        refunds = await conn.fetchval(
            "SELECT count(*) FROM payment_refunds WHERE tenant_id = $1", tenant_id
        )
        transfers = await conn.fetchval("SELECT count(*) FROM ledger_transfers")
    return intents, refunds, transfers


@pytest.mark.parametrize("body", BAD_INTENTS)
async def test_bad_payment_intents_are_refused_and_write_nothing(hub: Hub, db, body):
    world = await make_world(db)
    hold = str(uuid.uuid4())
    payload = {k: (hold if v == "{hold}" else v) for k, v in body.items()}
    before = await _counts(db, world.tenant_id)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/payments/intents", json=payload, headers={"Idempotency-Key": "bad-1"}
        )
        answer = await resp.json()
    assert resp.status == 422, answer
    assert set(answer["error"]) == {"code", "message", "details"}
    assert answer["error"]["code"] == "invalid"
    assert (await _counts(db, world.tenant_id))[:2] == before[:2]


async def test_payment_routes_refuse_missing_keys_unknown_ids_and_wrong_roles(hub: Hub, db):
    world = await make_world(db)
    user = bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    admin_id = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    admin = bearer(token_for(hub, admin_id, world.tenant_id, "tenant_admin"))
    ghost = uuid.uuid4()
    cases = [
        (
            user,
            "POST",
            "/api/v1/payments/intents",
            {"purpose": "wallet_topup", "amount_paise": 100},
            {},
            422,
            "invalid",
        ),
        (
            user,
            "POST",
            "/api/v1/payments/intents",
            {"purpose": "hold", "ref": str(ghost)},
            {"Idempotency-Key": "k1"},
            404,
            "not_found",
        ),
        (user, "GET", f"/api/v1/payments/{ghost}", None, {}, 404, "not_found"),
        (user, "GET", "/api/v1/payments/nope", None, {}, 422, "invalid"),
        (
            user,
            "POST",
            f"/api/v1/payments/{ghost}/verify",
            {"razorpay_order_id": "o"},
            {},
            422,
            "invalid",
        ),
        (
            user,
            "POST",
            f"/api/v1/payments/{ghost}/refunds",
            {},
            {"Idempotency-Key": "r"},
            403,
            "forbidden",
        ),
        (
            admin,
            "POST",
            f"/api/v1/payments/{ghost}/refunds",
            {"amount_paise": 0},
            {"Idempotency-Key": "r"},
            422,
            "invalid",
        ),
        (
            admin,
            "POST",
            f"/api/v1/payments/{ghost}/refunds",
            {},
            {"Idempotency-Key": "r"},
            404,
            "not_found",
        ),
        (
            user,
            "POST",
            f"/api/v1/bookings/{ghost}/cancel",
            {"refund_to": "bank"},
            {},
            422,
            "invalid",
        ),
        (user, "POST", f"/api/v1/bookings/{ghost}/cancel", {}, {}, 404, "not_found"),
        (
            user,
            "POST",
            "/api/v1/admin/credits/allocate",
            {
                "tenant_id": str(world.tenant_id),
                "channel": "SMS",
                "units": 5,
                "retail_rate_paise": 20,
            },
            {},
            403,
            "forbidden",
        ),
        (
            admin,
            "POST",
            "/api/v1/credits/deduct",
            {"tenant_id": str(world.tenant_id), "channel": "SMS", "transfer_id": "x"},
            {},
            403,
            "forbidden",
        ),
    ]
    before = await _counts(db, world.tenant_id)
    async with aiohttp.ClientSession() as http:
        for token, method, path, body, extra, status, code in cases:
            async with http.request(
                method, hub.url + path, json=body, headers={**token, **extra}
            ) as resp:
                answer = await resp.json()
                assert resp.status == status, (method, path, answer)
                assert answer["error"]["code"] == code, (method, path, answer)
    assert (await _counts(db, world.tenant_id))[:2] == before[:2]


async def test_a_tenant_without_a_gateway_answers_conflict_not_a_retryable_503(hub: Hub, db):
    world = await make_world(db)  # no gateway credentials stored for this tenant
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/payments/intents",
            json={"purpose": "wallet_topup", "amount_paise": 50_000},
            headers={"Idempotency-Key": "no-gateway-1"},
        )
        answer = await resp.json()
    assert resp.status == 409, answer
    assert answer["error"]["code"] == "conflict"
    assert answer["error"]["details"] == {"reason": "no_gateway_configured"}
