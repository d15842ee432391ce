"""Payments end to end: hub → gateway adapters (official SDKs) → local gateway emulators →
signed webhooks back into the hub → the tenant's actor and the ledger."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from hub import keys
from storage.ledger_verify import verify_ledger
from tests.support import (
    Hub,
    World,
    bearer,
    configure_gateways,
    connect,
    make_user,
    make_world,
    token_for,
)

pytestmark = pytest.mark.timeout(120)


async def _configure(hub: Hub, db: asyncpg.Pool, emulators: Any, world: World) -> dict[str, Any]:
    """Both gateways for the world's tenant, each a fresh emulator merchant whose webhooks come
    back to this hub."""
    return await configure_gateways(hub, db, emulators, world.tenant_id)


async def _set_price(db: asyncpg.Pool, world: World, price_paise: int) -> None:
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE slots SET price_paise = $2 WHERE id = $1", world.slot_ids[0], price_paise
        )


async def _hold(hub: Hub, world: World, qty: int = 1) -> str:
    client = await connect(hub, token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    try:
        ack = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": qty, "idempotency_key": uuid.uuid4().hex},
        )
        assert ack["ok"], ack
        return ack["data"]["hold_id"]
    finally:
        await client.close()


async def _pay_request(http: aiohttp.ClientSession, hub: Hub, hold_id: str) -> dict[str, Any]:
    resp = await http.post(
        f"{hub.url}/api/v1/payments/intents",
        json={"purpose": "hold", "ref": hold_id},
        headers={"Idempotency-Key": f"pay-{hold_id}"},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


def _order(view: dict[str, Any]) -> str:
    return view["checkout"][view["gateway"]]["order_id"]


async def _checkout(emulators: Any, gateway: str, order_id: str, action: str = "pay") -> dict:
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.post(
            f"{emulators.url(gateway)}/_emulator/orders/{order_id}/{action}", json={}
        ) as resp,
    ):
        return await resp.json()


async def _emulator(emulators: Any, gateway: str, path: str, body: dict) -> None:
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.post(f"{emulators.url(gateway)}/_emulator/{path}", json=body),
    ):
        pass


@pytest.fixture
async def paying(hub: Hub, db: asyncpg.Pool, gateway_emulators: Any) -> AsyncIterator[tuple]:
    world = await make_world(db, capacity=5)
    merchants = await _configure(hub, db, gateway_emulators, world)
    yield world, merchants
    for gateway in ("razorpay", "cashfree"):
        await _emulator(gateway_emulators, gateway, "faults", {"mode": "none"})
        await _emulator(
            gateway_emulators,
            gateway,
            "webhooks/mode",
            {"duplicate": 1, "drop": False, "reorder": False},
        )


async def _payment(hub: Hub, world: World, payment_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        return await (await http.get(f"{hub.url}/api/v1/payments/{payment_id}")).json()


async def _wait_outcome(hub: Hub, world: World, payment_id: str) -> dict[str, Any]:
    for _ in range(150):
        view = await _payment(hub, world, payment_id)
        if view["outcome"] is not None:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"payment never settled: {view}")


@pytest.mark.parametrize(("price", "gateway"), [(59_900, "razorpay"), (60_100, "cashfree")])
async def test_the_cheaper_gateway_takes_the_payment(hub, db, paying, price, gateway):
    world, _ = paying
    await _set_price(db, world, price)
    hold_id = await _hold(hub, world)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        view = await _pay_request(http, hub, hold_id)
    assert view["gateway"] == gateway
    assert view["amount_paise"] == price


async def test_a_paid_hold_is_confirmed_exactly_once_under_ten_duplicate_webhooks(
    hub, db, paying, gateway_emulators
):
    world, _ = paying
    await _emulator(gateway_emulators, "cashfree", "webhooks/mode", {"duplicate": 10})
    hold_id = await _hold(hub, world, qty=2)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        view = await _pay_request(http, hub, hold_id)
        again = await _pay_request(http, hub, hold_id)  # a retried request: same payment
    assert again["payment_id"] == view["payment_id"]
    assert view["gateway"] == "cashfree"  # ₹2,200
    await _checkout(gateway_emulators, "cashfree", _order(view))
    settled = await _wait_outcome(hub, world, view["payment_id"])
    assert settled["status"] == "captured" and settled["outcome"] == "booking_confirmed"
    await asyncio.sleep(1.0)  # let every duplicate arrive and be applied
    async with db.acquire() as conn:
        status = await conn.fetchval("SELECT status FROM holds WHERE id = $1", uuid.UUID(hold_id))
        inbox = await conn.fetchval(
            "SELECT count(*) FROM webhook_inbox WHERE tenant_id = $1", world.tenant_id
        )
        booked = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id LIKE $1", f"pay:{view['payment_id']}:%"
        )
        report = await verify_ledger(conn)
    assert status == "confirmed"
    assert inbox >= 1
    assert booked == 2  # net to the tenant and the gateway's fee, once
    assert report["violations"] == 0


async def test_a_lost_webhook_is_found_by_reconciliation(hub, db, paying, gateway_emulators):
    world, _ = paying
    await _set_price(db, world, 50_000)
    await _emulator(gateway_emulators, "razorpay", "webhooks/mode", {"drop": True})
    hold_id = await _hold(hub, world)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        view = await _pay_request(http, hub, hold_id)
    await _checkout(gateway_emulators, "razorpay", _order(view))
    await asyncio.sleep(0.5)
    assert (await _payment(hub, world, view["payment_id"]))["status"] == "created"
    assert await hub.app[keys.PAYMENTS].reconcile_once(older_than_secs=0) >= 1
    settled = await _payment(hub, world, view["payment_id"])
    assert settled["outcome"] == "booking_confirmed"


async def test_checkout_callback_confirms_with_razorpays_signature(
    hub, db, paying, gateway_emulators
):
    world, _ = paying
    await _set_price(db, world, 50_000)
    await _emulator(gateway_emulators, "razorpay", "webhooks/mode", {"drop": True})
    hold_id = await _hold(hub, world)
    headers = bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    async with aiohttp.ClientSession(headers=headers) as http:
        view = await _pay_request(http, hub, hold_id)
        paid = await _checkout(gateway_emulators, "razorpay", _order(view))
        forged = await http.post(
            f"{hub.url}/api/v1/payments/{view['payment_id']}/verify",
            json={
                "razorpay_order_id": paid["razorpay_order_id"],
                "razorpay_payment_id": paid["razorpay_payment_id"],
                "razorpay_signature": "0" * 64,
            },
        )
        assert forged.status == 401
        ok = await http.post(
            f"{hub.url}/api/v1/payments/{view['payment_id']}/verify",
            json={
                k: paid[k]
                for k in ("razorpay_order_id", "razorpay_payment_id", "razorpay_signature")
            },
        )
        assert ok.status == 200, await ok.text()
        assert (await ok.json())["outcome"] == "booking_confirmed"


async def test_failover_when_the_cheaper_gateway_errors(hub, db, paying, gateway_emulators):
    world, _ = paying
    await _set_price(db, world, 100_000)  # ₹1,000: Cashfree is cheaper
    await _emulator(
        gateway_emulators,
        "cashfree",
        "faults",
        {"mode": "error_500", "routes": ["POST /pg/orders"]},
    )
    hold_id = await _hold(hub, world)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        view = await _pay_request(http, hub, hold_id)
    assert [a["status"] for a in view["attempts"]] == ["error", "open"]
    assert [a["gateway"] for a in view["attempts"]] == ["cashfree", "razorpay"]
    await _checkout(gateway_emulators, "razorpay", _order(view))
    assert (await _wait_outcome(hub, world, view["payment_id"]))["outcome"] == ("booking_confirmed")


async def test_forged_and_unknown_tenant_webhooks_are_refused_and_change_nothing(hub, db, paying):
    world, _ = paying
    body = b'{"event": "payment.captured", "payload": {}}'
    async with aiohttp.ClientSession() as http:
        forged = await http.post(
            f"{hub.url}/api/v1/webhooks/razorpay/{world.tenant_id}",
            data=body,
            headers={"X-Razorpay-Signature": "00" * 32, "x-razorpay-event-id": "evt_forged"},
        )
        unsigned = await http.post(
            f"{hub.url}/api/v1/webhooks/cashfree/{world.tenant_id}", data=body
        )
        stranger = await http.post(
            f"{hub.url}/api/v1/webhooks/razorpay/{uuid.uuid4()}",
            data=body,
            headers={"X-Razorpay-Signature": "00" * 32},
        )
        nowhere = await http.post(f"{hub.url}/api/v1/webhooks/paypal/{world.tenant_id}", data=body)
    assert forged.status == 401 and unsigned.status == 401
    assert stranger.status == 401 and nowhere.status == 404
    async with db.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT count(*) FROM webhook_inbox WHERE tenant_id = $1", world.tenant_id
        )
        rejected = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'webhook.rejected' "
            "AND after ->> 'path' LIKE $1",
            f"%{world.tenant_id}%",
        )
    assert stored == 0
    assert rejected >= 2


async def test_full_and_partial_refunds_capped_and_idempotent(hub, db, paying, gateway_emulators):
    world, _ = paying
    await _set_price(db, world, 100_000)
    hold_id = await _hold(hub, world)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        view = await _pay_request(http, hub, hold_id)
    await _checkout(gateway_emulators, view["gateway"], _order(view))
    await _wait_outcome(hub, world, view["payment_id"])
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    url = f"{hub.url}/api/v1/payments/{view['payment_id']}/refunds"
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, admin, world.tenant_id, "tenant_admin"))
    ) as http:
        part = await http.post(
            url,
            json={"amount_paise": 30_000, "reason": "one name less"},
            headers={"Idempotency-Key": "r1"},
        )
        assert part.status == 201, await part.text()
        again = await http.post(
            url,
            json={"amount_paise": 30_000, "reason": "one name less"},
            headers={"Idempotency-Key": "r1"},
        )
        assert (await again.json())["refunded_paise"] == 30_000
        too_much = await http.post(
            url, json={"amount_paise": 80_000}, headers={"Idempotency-Key": "r2"}
        )
        assert too_much.status == 409
        assert (await too_much.json())["error"]["details"]["reason"] == "exceeds_captured"
        rest = await http.post(url, json={}, headers={"Idempotency-Key": "r3"})
        assert rest.status == 201
        final = await rest.json()
    assert final["refunded_paise"] == 100_000
    assert sorted(r["amount_paise"] for r in final["refunds"]) == [30_000, 70_000]
    async with db.acquire() as conn:
        assert (await verify_ledger(conn))["violations"] == 0


async def test_the_checkout_details_and_a_disagreeing_amount(hub, db, paying):
    world, merchants = paying
    await _set_price(db, world, 50_000)
    hold_id = await _hold(hub, world)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        wrong = await http.post(
            f"{hub.url}/api/v1/payments/intents",
            json={"purpose": "hold", "ref": hold_id, "amount_paise": 100},
            headers={"Idempotency-Key": "wrong-amount"},
        )
        assert wrong.status == 422
        assert (await wrong.json())["error"]["details"]["reason"] == "amount_mismatch"
        view = await _pay_request(http, hub, hold_id)
    assert view["gateway"] == "razorpay" and view["fee_paise"] == 1000  # 2% of ₹500
    assert view["checkout"]["razorpay"] == {
        "key_id": merchants["razorpay"].key_id,
        "order_id": _order(view),
        "amount": 50_000,
    }


async def test_a_tenant_can_pin_a_gateway_and_every_decision_is_recorded(hub, db, paying):
    world, _ = paying
    await _set_price(db, world, 200_000)  # ₹2,000: Cashfree would be cheaper
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, operator, None, "platform_admin"))
    ) as http:
        bad = await http.put(
            f"{hub.url}/api/v1/admin/tenants/{world.tenant_id}/payment-routing",
            json={"mode": "split", "weights": {"razorpay": 60, "cashfree": 30}},
        )
        assert bad.status == 422
        pinned = await http.put(
            f"{hub.url}/api/v1/admin/tenants/{world.tenant_id}/payment-routing",
            json={"mode": "pin", "gateway": "razorpay"},
        )
        assert pinned.status == 200
    hold_id = await _hold(hub, world)
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    ) as http:
        view = await _pay_request(http, hub, hold_id)
    assert view["gateway"] == "razorpay"
    assert [(a["gateway"], a["route_reason"], a["fee_paise"]) for a in view["attempts"]] == [
        ("razorpay", "pin", 4000)
    ]


async def _policy_and_start(db: asyncpg.Pool, world: World, hours_ahead: int) -> None:
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE resources SET cancellation_policy = $2::jsonb WHERE id = $1",
            world.resource_id,
            '[{"hours_before": 48, "refund_percent": 100}, '
            '{"hours_before": 6, "refund_percent": 50}]',
        )
        await conn.execute(
            "UPDATE slots SET starts_at = now() + make_interval(hours => $2), "
            "ends_at = now() + make_interval(hours => $2 + 1) WHERE id = $1",
            world.slot_ids[0],
            hours_ahead,
        )


async def test_cancelling_a_paid_booking_refunds_by_policy_once(hub, db, paying, gateway_emulators):
    world, _ = paying
    await _set_price(db, world, 100_000)
    await _policy_and_start(db, world, hours_ahead=30)  # 50 % back
    hold_id = await _hold(hub, world)
    user = bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    async with aiohttp.ClientSession(headers=user) as http:
        view = await _pay_request(http, hub, hold_id)
        await _checkout(gateway_emulators, view["gateway"], _order(view))
        await _wait_outcome(hub, world, view["payment_id"])
        first = await http.post(
            f"{hub.url}/api/v1/bookings/{hold_id}/cancel",
            json={"refund_to": "source", "reason": "plans changed"},
        )
        assert first.status == 200, await first.text()
        again = await http.post(
            f"{hub.url}/api/v1/bookings/{hold_id}/cancel", json={"refund_to": "source"}
        )
        assert (
            await first.json()
            == await again.json()
            == {
                "hold_id": hold_id,
                "status": "cancelled",
                "refund_percent": 50,
                "refund_paise": 50_000,
                "refunded_to": "source",
            }
        )
    settled = await _payment(hub, world, view["payment_id"])
    assert settled["refunded_paise"] == 50_000
    assert [r["amount_paise"] for r in settled["refunds"]] == [50_000]
    async with db.acquire() as conn:
        slot = await conn.fetchrow(
            "SELECT held_qty, confirmed_qty FROM slots WHERE id = $1", world.slot_ids[0]
        )
        assert (slot["held_qty"], slot["confirmed_qty"]) == (0, 0)
        assert (await verify_ledger(conn))["violations"] == 0


async def test_cancelling_to_the_wallet_and_too_late_for_any_refund(
    hub, db, paying, gateway_emulators
):
    world, _ = paying
    await _set_price(db, world, 100_000)
    await _policy_and_start(db, world, hours_ahead=72)  # 100 % back
    hold_id = await _hold(hub, world)
    user = bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    async with aiohttp.ClientSession(headers=user) as http:
        view = await _pay_request(http, hub, hold_id)
        await _checkout(gateway_emulators, view["gateway"], _order(view))
        await _wait_outcome(hub, world, view["payment_id"])
        done = await (
            await http.post(
                f"{hub.url}/api/v1/bookings/{hold_id}/cancel", json={"refund_to": "wallet"}
            )
        ).json()
        assert (done["refund_paise"], done["refunded_to"]) == (100_000, "wallet")
        wallets = await (await http.get(f"{hub.url}/api/v1/wallets/me")).json()
        inr = next(w for w in wallets["wallets"] if w["currency"] == "INR")
        assert inr["balance"] == 100_000
        # Too late: a booking two hours ahead gets nothing back, but is still cancelled.
        await _policy_and_start(db, world, hours_ahead=2)
        late_hold = await _hold(hub, world)
        late = await _pay_request(http, hub, late_hold)
        await _checkout(gateway_emulators, late["gateway"], _order(late))
        await _wait_outcome(hub, world, late["payment_id"])
        nothing = await (
            await http.post(f"{hub.url}/api/v1/bookings/{late_hold}/cancel", json={})
        ).json()
        assert (nothing["status"], nothing["refund_paise"]) == ("cancelled", 0)


async def test_a_second_cancellation_asking_for_another_destination_pays_nothing_more(
    hub, db, paying, gateway_emulators
):
    world, _ = paying
    await _set_price(db, world, 100_000)
    await _policy_and_start(db, world, hours_ahead=72)  # 100 % back
    hold_id = await _hold(hub, world)
    user = bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    async with aiohttp.ClientSession(headers=user) as http:
        view = await _pay_request(http, hub, hold_id)
        await _checkout(gateway_emulators, view["gateway"], _order(view))
        await _wait_outcome(hub, world, view["payment_id"])
        first = await (
            await http.post(
                f"{hub.url}/api/v1/bookings/{hold_id}/cancel", json={"refund_to": "wallet"}
            )
        ).json()
        second = await (
            await http.post(
                f"{hub.url}/api/v1/bookings/{hold_id}/cancel", json={"refund_to": "source"}
            )
        ).json()
        assert first == second
        assert (first["refunded_to"], first["refund_paise"]) == ("wallet", 100_000)
    settled = await _payment(hub, world, view["payment_id"])
    assert settled["refunds"] == []  # nothing went back to the card
    assert settled["refunded_paise"] == 100_000  # the wallet refund counts against it
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, admin, world.tenant_id, "tenant_admin"))
    ) as http:
        more = await http.post(
            f"{hub.url}/api/v1/payments/{view['payment_id']}/refunds",
            json={},
            headers={"Idempotency-Key": "after-cancel"},
        )
        assert more.status == 409


async def test_a_wallet_top_up_is_not_refunded_to_the_card(hub, db, paying, gateway_emulators):
    world, _ = paying
    user = bearer(token_for(hub, world.user_ids[0], world.tenant_id, "user"))
    async with aiohttp.ClientSession(headers=user) as http:
        made = await http.post(
            f"{hub.url}/api/v1/payments/intents",
            json={"purpose": "wallet_topup", "amount_paise": 50_000},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        view = await made.json()
    await _checkout(gateway_emulators, view["gateway"], _order(view))
    assert (await _wait_outcome(hub, world, view["payment_id"]))["outcome"] == "wallet_credited"
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, admin, world.tenant_id, "tenant_admin"))
    ) as http:
        refused = await http.post(
            f"{hub.url}/api/v1/payments/{view['payment_id']}/refunds",
            json={},
            headers={"Idempotency-Key": "topup"},
        )
        assert refused.status == 409
        assert (await refused.json())["error"]["details"]["reason"] == "topup_not_refundable"
