"""Tenants' gateway accounts: configured by platform operators over REST, sealed at rest with
AES-256-GCM, handed out by the hub's GatewayDirectory as working adapters (against the local
gateway emulators)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from hub import keys
from hub.gateway_directory import GatewayDirectory, StoredCredentialsUnreadable
from protocols.errors import NotFound, Unavailable, WebhookSignatureInvalid
from protocols.gateways.interface import OrderRequest, OrderStatus
from protocols.secretbox import SecretBox, SecretUnreadable, generate_key
from storage import gateway_credentials as store
from tests.conftest import (
    TEST_SECRET_KEY,
    EmulatorMerchant,
    GatewayEmulators,
    hub_settings,
    start_hub,
)
from tests.support import Hub, bearer, make_user, make_world, token_for

BOX = SecretBox.from_base64(TEST_SECRET_KEY)


async def _operator(hub: Hub, db: asyncpg.Pool) -> dict[str, str]:
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    return bearer(token_for(hub, operator, None, "platform_admin"))


def _url(hub: Hub, tenant_id: UUID, gateway: str | None = None) -> str:
    base = f"{hub.url}/api/v1/admin/tenants/{tenant_id}/gateways"
    return base if gateway is None else f"{base}/{gateway}"


def _body(merchant: EmulatorMerchant | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = (
        {
            "key_id": merchant.key_id,
            "key_secret": merchant.key_secret,
            "webhook_secrets": [merchant.webhook_secret],
            "base_url": merchant.base_url,
        }
        if merchant is not None
        else {
            "key_id": "rzp_test_abc",
            "key_secret": "ks-" + uuid.uuid4().hex,
            "webhook_secrets": ["whs-" + uuid.uuid4().hex],
        }
    )
    body.update(changes)
    return body


async def _put(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: Any
) -> tuple[int, dict[str, Any]]:
    async with http.put(url, headers=headers, json=body) as resp:
        return resp.status, await resp.json()


async def test_platform_admin_configures_a_gateway_without_any_secret_echoed_or_audited(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    op = await _operator(hub, db)
    body = _body(webhook_secrets=["whs-new-" + uuid.uuid4().hex, "whs-old-" + uuid.uuid4().hex])
    secrets = [body["key_secret"], *body["webhook_secrets"]]
    async with aiohttp.ClientSession() as http:
        status, config = await _put(http, _url(hub, world.tenant_id, "razorpay"), op, body)
        assert status == 200, config
        assert config == {
            "tenant_id": str(world.tenant_id),
            "gateway": "razorpay",
            "key_id": "rzp_test_abc",
            "webhook_secrets": 2,
            "base_url": None,
            "fee_percent_bp": 200,  # Razorpay's default 2 % + ₹0
            "fee_fixed_paise": 0,
            "priority": 0,
            "enabled": True,
            "updated_at": config["updated_at"],
        }
        status, cashfree = await _put(
            http,
            _url(hub, world.tenant_id, "cashfree"),
            op,
            _body(key_id="CF123", fee_fixed_paise=250, priority=7, enabled=False),
        )
        assert status == 200, cashfree
        assert (cashfree["fee_percent_bp"], cashfree["fee_fixed_paise"]) == (150, 250)
        async with http.get(_url(hub, world.tenant_id), headers=op) as resp:
            assert resp.status == 200
            listed_text = await resp.text()
    listed = json.loads(listed_text)["gateways"]
    assert [(g["gateway"], g["priority"], g["enabled"]) for g in listed] == [
        ("razorpay", 0, True),
        ("cashfree", 7, False),
    ]
    async with db.acquire() as conn:
        audit_rows = await conn.fetch(
            "SELECT actor_role, before, after, (to_jsonb(a.*))::text AS whole FROM audit_log a "
            "WHERE tenant_id = $1 AND action = 'tenant.gateway_configured' ORDER BY id",
            world.tenant_id,
        )
    assert len(audit_rows) == 2
    assert audit_rows[0]["actor_role"] == "platform_admin"
    assert audit_rows[0]["before"] is None
    assert json.loads(audit_rows[0]["after"])["webhook_secrets"] == 2
    assert json.loads(audit_rows[0]["after"])["key_id"] == "rzp_test_abc"
    for secret in secrets:
        assert secret not in listed_text
        assert secret not in json.dumps(config)
        assert all(secret not in row["whole"] for row in audit_rows)


async def test_secrets_are_sealed_at_rest_and_cannot_be_moved_to_another_tenant(
    hub: Hub, db: asyncpg.Pool
):
    world, other = await make_world(db), await make_world(db)
    op = await _operator(hub, db)
    body = _body()
    async with aiohttp.ClientSession() as http:
        for tenant_id in (world.tenant_id, other.tenant_id):
            status, answer = await _put(http, _url(hub, tenant_id, "razorpay"), op, body)
            assert status == 200, answer
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT key_secret_enc, webhook_secrets_enc FROM tenant_gateways "
            "WHERE tenant_id = $1 AND gateway = 'razorpay'",
            world.tenant_id,
        )
        sealed_key, sealed_hooks = row["key_secret_enc"], row["webhook_secrets_enc"]
        assert body["key_secret"].encode() not in sealed_key
        assert all(body["webhook_secrets"][0].encode() not in sealed for sealed in sealed_hooks)
        opened = await store.get_account(conn, BOX, tenant_id=world.tenant_id, gateway="razorpay")
        assert opened is not None
        assert opened.credentials.key_secret.get_secret_value() == body["key_secret"]
        assert [s.get_secret_value() for s in opened.credentials.webhook_secrets] == body[
            "webhook_secrets"
        ]
        # The same secret sealed for the other tenant is a different ciphertext ...
        other_key = await conn.fetchval(
            "SELECT key_secret_enc FROM tenant_gateways WHERE tenant_id = $1", other.tenant_id
        )
        assert other_key != sealed_key
        # ... and this tenant's ciphertext copied into the other tenant's row does not open.
        moved = conn.transaction()
        await moved.start()
        try:
            await conn.execute(
                "UPDATE tenant_gateways SET key_secret_enc = $1 "
                "WHERE tenant_id = $2 AND gateway = 'razorpay'",
                sealed_key,
                other.tenant_id,
            )
            with pytest.raises(SecretUnreadable):
                await store.get_account(conn, BOX, tenant_id=other.tenant_id, gateway="razorpay")
            # Nor does a webhook secret moved into the key secret's column.
            await conn.execute(
                "UPDATE tenant_gateways SET key_secret_enc = webhook_secrets_enc[1] "
                "WHERE tenant_id = $1 AND gateway = 'razorpay'",
                world.tenant_id,
            )
            with pytest.raises(SecretUnreadable):
                await store.get_account(conn, BOX, tenant_id=world.tenant_id, gateway="razorpay")
        finally:
            await moved.rollback()
        again = await store.get_account(conn, BOX, tenant_id=other.tenant_id, gateway="razorpay")
        assert again is not None


async def test_only_platform_operators_may_read_or_change_gateway_accounts(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    tokens = [
        token_for(hub, world.user_ids[0], world.tenant_id, "user"),
        token_for(hub, world.staff_id, world.tenant_id, "staff"),
        token_for(hub, admin, world.tenant_id, "tenant_admin"),
    ]
    async with aiohttp.ClientSession() as http:
        for token in tokens:
            status, answer = await _put(
                http, _url(hub, world.tenant_id, "razorpay"), bearer(token), _body()
            )
            assert (status, answer["error"]["code"]) == (403, "forbidden")
            async with http.get(_url(hub, world.tenant_id), headers=bearer(token)) as resp:
                assert resp.status == 403
        async with http.put(_url(hub, world.tenant_id, "razorpay"), json=_body()) as resp:
            assert resp.status == 401
    async with db.acquire() as conn:
        assert await store.list_configs(conn, tenant_id=world.tenant_id) == []


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"key_secret": None}, "key_secret"),
        ({"key_secret": ""}, "key_secret"),
        ({"key_secret": "x" * 257}, "key_secret"),
        ({"key_secret": "has space"}, "key_secret"),
        ({"webhook_secrets": []}, "webhook_secrets"),
        ({"webhook_secrets": ["a", "b", "c", "d"]}, "webhook_secrets"),
        ({"webhook_secrets": ["same", "same"]}, "webhook_secrets"),
        ({"webhook_secrets": "whs"}, "webhook_secrets"),
        ({"key_id": "rzp test"}, "key_id"),
        ({"key_id": ""}, "key_id"),
        ({"fee_percent_bp": -1}, "fee_percent_bp"),
        ({"fee_percent_bp": 10_001}, "fee_percent_bp"),
        ({"fee_percent_bp": "200"}, "fee_percent_bp"),
        ({"fee_fixed_paise": 1.5}, "fee_fixed_paise"),
        ({"priority": -1}, "priority"),
        ({"enabled": "yes"}, "enabled"),
        ({"base_url": "http://api.razorpay.com"}, "base_url"),  # plain http off loopback
        ({"base_url": "ftp://127.0.0.1"}, "base_url"),
        ({"base_url": "https://user:pw@api.razorpay.com"}, "base_url"),
        ({"base_url": "https://api.razorpay.com/?x=1"}, "base_url"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_bodies_are_refused_with_422_naming_the_field_and_store_nothing(
    hub: Hub, db: asyncpg.Pool, change: dict[str, Any], loc: str
):
    world = await make_world(db)
    op = await _operator(hub, db)
    body = {k: v for k, v in {**_body(), **change}.items() if v is not None}
    async with aiohttp.ClientSession() as http:
        status, answer = await _put(http, _url(hub, world.tenant_id, "razorpay"), op, body)
    assert status == 422, answer
    assert answer["error"]["code"] == "invalid"
    assert loc in {part for detail in answer["error"]["details"] for part in detail["loc"]}
    sent = [body.get("key_secret"), *body.get("webhook_secrets", [])]
    assert all(s not in json.dumps(answer) for s in sent if isinstance(s, str) and len(s) > 4)
    async with db.acquire() as conn:
        assert await store.list_configs(conn, tenant_id=world.tenant_id) == []


async def test_unknown_gateway_tenant_or_a_body_that_is_not_json_are_refused(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    op = await _operator(hub, db)
    async with aiohttp.ClientSession() as http:
        status, answer = await _put(http, _url(hub, world.tenant_id, "paytm"), op, _body())
        assert (status, answer["error"]["details"]["loc"]) == (422, ["path", "gateway"])
        status, answer = await _put(http, _url(hub, uuid.uuid4(), "razorpay"), op, _body())
        assert (status, answer["error"]["code"]) == (404, "not_found")
        async with http.get(_url(hub, uuid.uuid4()), headers=op) as resp:
            assert resp.status == 404
        async with http.put(
            _url(hub, world.tenant_id, "razorpay"), headers=op, data=b"{not json"
        ) as resp:
            assert resp.status == 400


async def test_the_directory_hands_out_working_adapters_in_priority_order(
    hub: Hub, db: asyncpg.Pool, gateway_emulators: GatewayEmulators
):
    world = await make_world(db)
    op = await _operator(hub, db)
    razorpay = await gateway_emulators.register_merchant("razorpay")
    cashfree = await gateway_emulators.register_merchant("cashfree")
    directory: GatewayDirectory = hub.app[keys.GATEWAYS]
    assert await directory.gateways_for(world.tenant_id) == []
    async with aiohttp.ClientSession() as http:
        for merchant, priority in ((razorpay, 5), (cashfree, 2)):
            status, answer = await _put(
                http,
                _url(hub, world.tenant_id, merchant.gateway),
                op,
                _body(merchant, priority=priority),
            )
            assert status == 200, answer

        found = await directory.gateways_for(world.tenant_id)
        assert [g.name for g in found] == ["cashfree", "razorpay"]  # lower priority first
        assert [(g.fees.percent_bp, g.fees.fixed_paise) for g in found] == [(150, 300), (200, 0)]
        orders = {}
        for configured in found:
            attempt_id = f"att_{uuid.uuid4().hex[:20]}"
            order = await configured.adapter.create_order(
                OrderRequest(
                    attempt_id=attempt_id,
                    amount_paise=110_000,
                    customer_id="cust_1",
                    customer_phone="9999999999",
                )
            )
            assert (order.amount_paise, order.status) == (110_000, OrderStatus.CREATED)
            merchant = razorpay if configured.name == "razorpay" else cashfree
            async with http.post(
                f"{merchant.emulator_url}/_emulator/orders/{order.gateway_order_id}/pay",
                json={} if configured.name == "razorpay" else {"client_id": merchant.key_id},
            ) as resp:
                assert resp.status == 200, await resp.text()
                paid = await resp.json()
            if configured.name == "razorpay":
                configured.adapter.verify_checkout_signature(
                    gateway_order_id=order.gateway_order_id,
                    gateway_payment_id=paid["razorpay_payment_id"],
                    signature=paid["razorpay_signature"],
                )
            fetched = await configured.adapter.fetch_order(order.gateway_order_id)
            assert fetched.status == OrderStatus.PAID
            orders[configured.name] = order.gateway_order_id

        # Adapters are kept while the row is unchanged ...
        again = await directory.gateways_for(world.tenant_id)
        assert [g.adapter for g in again] == [g.adapter for g in found]
        assert await directory.adapter(world.tenant_id, "razorpay") is found[1].adapter
        # ... and replaced when it changes. Disabled: out of routing, still reachable.
        status, answer = await _put(
            http,
            _url(hub, world.tenant_id, "cashfree"),
            op,
            _body(cashfree, priority=2, enabled=False),
        )
        assert status == 200, answer
    routed = await directory.gateways_for(world.tenant_id)
    assert [g.name for g in routed] == ["razorpay"]
    assert routed[0].adapter is found[1].adapter
    replaced = await directory.adapter(world.tenant_id, "cashfree")
    assert replaced is not found[0].adapter
    assert (await replaced.fetch_order(orders["cashfree"])).status == OrderStatus.PAID

    other = await make_world(db)
    with pytest.raises(NotFound):
        await directory.adapter(other.tenant_id, "razorpay")


def _razorpay_webhook(secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event": "payment.captured", "payload": {}}).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Razorpay-Signature": signature, "X-Razorpay-Event-Id": "evt_1"}


async def test_rotating_a_webhook_secret_accepts_both_until_the_old_one_is_dropped(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    op = await _operator(hub, db)
    directory: GatewayDirectory = hub.app[keys.GATEWAYS]
    old, new, stranger = (f"whs-{name}-{uuid.uuid4().hex}" for name in ("old", "new", "x"))
    url = _url(hub, world.tenant_id, "razorpay")
    now = datetime.now(UTC)

    async def accepts(secret: str) -> bool:
        adapter = await directory.adapter(world.tenant_id, "razorpay")
        try:
            adapter.parse_webhook(*_razorpay_webhook(secret), now=now)
        except WebhookSignatureInvalid:
            return False
        return True

    async with aiohttp.ClientSession() as http:
        status, _ = await _put(http, url, op, _body(webhook_secrets=[old]))
        assert status == 200
        assert (await accepts(old), await accepts(new)) == (True, False)
        status, rotating = await _put(http, url, op, _body(webhook_secrets=[new, old]))
        assert (status, rotating["webhook_secrets"]) == (200, 2)
        assert (await accepts(new), await accepts(old), await accepts(stranger)) == (
            True,
            True,
            False,
        )
        status, done = await _put(http, url, op, _body(webhook_secrets=[new]))
        assert (status, done["webhook_secrets"]) == (200, 1)
        assert (await accepts(new), await accepts(old)) == (True, False)


async def test_without_the_right_key_nothing_is_stored_and_a_hub_refuses_to_start(
    hub: Hub, db: asyncpg.Pool, migrated_dsn: str
):
    world = await make_world(db)
    op = await _operator(hub, db)
    async with aiohttp.ClientSession() as http:
        status, _ = await _put(http, _url(hub, world.tenant_id, "razorpay"), op, _body())
        assert status == 200

    keyless = GatewayDirectory(db, None)
    try:
        with pytest.raises(Unavailable) as refused:
            keyless.secret_box()
        assert refused.value.details == {"reason": "secret_key_unset"}
        with pytest.raises(Unavailable):
            await keyless.gateways_for(world.tenant_id)
        assert await keyless.gateways_for((await make_world(db)).tenant_id) == []
        with pytest.raises(StoredCredentialsUnreadable, match="SEVA_SECRET_KEY is not set"):
            await keyless.check_stored_credentials()
    finally:
        await keyless.aclose()

    for secret_key in (None, generate_key()):
        with pytest.raises(StoredCredentialsUnreadable):
            await start_hub(hub_settings(secret_key=secret_key), migrated_dsn)
