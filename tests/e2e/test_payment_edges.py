"""Payment edge cases end to end (real hub, real gateway emulators, real signed webhooks): a
reordered ``failed`` after ``captured``, a webhook delivered again to a restarted hub, money that
arrives after the hold expired, wallet top-ups through a gateway, and the circuit breaker."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from actors.commands import RefreshTenantCommand
from hub import keys
from storage.ledger_verify import verify_ledger
from tests.conftest import hub_settings, start_hub
from tests.e2e.test_payments import (
    _checkout,
    _configure,
    _emulator,
    _hold,
    _order,
    _pay_request,
    _payment,
    _set_price,
    _wait_outcome,
)
from tests.support import Hub, World, bearer, connect, make_world, token_for

pytestmark = pytest.mark.timeout(60)

# Long enough for the intent to be made while the hold is live, short enough to wait out.
SHORT_HOLD_TTL_SECS = 2
CASHFREE_WEBHOOK_TOLERANCE_SECS = 300


@pytest.fixture
async def edges(
    hub: Hub, db: asyncpg.Pool, gateway_emulators: Any
) -> AsyncIterator[tuple[World, dict[str, Any]]]:
    """A fresh tenant paying through both gateways of the session's hub; every fault and
    webhook mode set by the test is reset afterwards (and parked webhooks sent)."""
    world = await make_world(db, capacity=5)
    merchants = await _configure(hub, db, gateway_emulators, world)
    yield world, merchants
    await _reset_emulators(gateway_emulators)


async def _reset_emulators(emulators: Any) -> None:
    for gateway in ("razorpay", "cashfree"):
        await _emulator(emulators, gateway, "faults", {})
        await _emulator(emulators, gateway, "webhooks/mode", {})
        await _emulator(emulators, gateway, "webhooks/release", {"order": "fifo"})


@pytest.fixture
async def fresh_hub(migrated_dsn: str, ray_session: None) -> AsyncIterator[Hub]:
    """A hub process of the test's own: its gateway breakers have seen nothing yet."""
    handle, runner = await start_hub(hub_settings(), migrated_dsn)
    try:
        yield handle
    finally:
        await runner.cleanup()


def _user(hub: Hub, world: World, index: int = 0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        headers=bearer(token_for(hub, world.user_ids[index], world.tenant_id, "user"))
    )


async def _hold_as(hub: Hub, world: World, index: int) -> str:
    client = await connect(hub, token_for(hub, world.user_ids[index], world.tenant_id, "user"))
    try:
        ack = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
        )
        assert ack["ok"], ack
        return ack["data"]["hold_id"]
    finally:
        await client.close()


async def _control_get(emulators: Any, gateway: str, path: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.get(f"{emulators.url(gateway)}/_emulator/{path}") as resp,
    ):
        return await resp.json()


async def _wait_hold_status(db: asyncpg.Pool, hold_id: str, status: str, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        async with db.acquire() as conn:
            now = await conn.fetchval("SELECT status FROM holds WHERE id = $1", UUID(hold_id))
        if now == status:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"hold {hold_id} is {now}, never {status}")
        await asyncio.sleep(0.1)


async def _ledger_of(db: asyncpg.Pool, payment_id: str) -> tuple[int, int]:
    """(transfers booked for this payment's capture, ledger violations anywhere)."""
    async with db.acquire() as conn:
        booked = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id LIKE $1", f"pay:{payment_id}:%"
        )
        report = await verify_ledger(conn)
    return booked, report["violations"]


async def _holds_of(db: asyncpg.Pool, world: World) -> list[asyncpg.Record]:
    async with db.acquire() as conn:
        return await conn.fetch(
            "SELECT id, user_id, slot_id, qty, status FROM holds WHERE tenant_id = $1 "
            "ORDER BY created_at",
            world.tenant_id,
        )


async def test_a_failed_delivered_after_captured_changes_nothing(hub, db, edges, gateway_emulators):
    world, merchants = edges
    await _set_price(db, world, 50_000)  # ₹500: Razorpay
    await _emulator(gateway_emulators, "razorpay", "webhooks/mode", {"hold": True})
    hold_id = await _hold(hub, world)
    async with _user(hub, world) as http:
        view = await _pay_request(http, hub, hold_id)
    assert view["gateway"] == "razorpay"
    order_id = _order(view)
    # Razorpay lets a customer fail once and then pay on the same order.
    await _checkout(gateway_emulators, "razorpay", order_id, "fail")
    await _checkout(gateway_emulators, "razorpay", order_id, "pay")
    await asyncio.sleep(0.3)
    assert (await _payment(hub, world, view["payment_id"]))["status"] == "created"  # all parked

    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.post(
            f"{gateway_emulators.razorpay_url}/_emulator/webhooks/release", json={"order": "lifo"}
        ) as resp,
    ):
        assert (await resp.json())["released"] == 4  # payment.failed + the three of the capture
    settled = await _wait_outcome(hub, world, view["payment_id"])
    assert (settled["status"], settled["outcome"]) == ("captured", "booking_confirmed")

    key_id = merchants["razorpay"].key_id
    for _ in range(100):
        log = await _control_get(gateway_emulators, "razorpay", f"webhooks?merchant={key_id}")
        delivered = [d for d in log["deliveries"] if d["outcome"] == "delivered"]
        if len(delivered) == 4:
            break
        await asyncio.sleep(0.1)
    assert [d["event"] for d in sorted(delivered, key=lambda d: d["seq"])] == [
        "order.paid",
        "payment.captured",
        "payment.authorized",
        "payment.failed",
    ]
    for _ in range(100):
        async with db.acquire() as conn:
            inbox = await conn.fetch(
                "SELECT event_type, processed_at FROM webhook_inbox WHERE tenant_id = $1 "
                "ORDER BY id",
                world.tenant_id,
            )
        if len(inbox) == 4 and all(r["processed_at"] is not None for r in inbox):
            break
        await asyncio.sleep(0.1)
    assert [r["event_type"] for r in inbox][-1] == "payment.failed"  # received last...
    assert all(r["processed_at"] is not None for r in inbox)  # ...and applied

    # Any later `failed` for this order is ignored too, whoever brings it.
    assert await hub.app[keys.PAYMENTS].on_failed("razorpay", order_id) == "ignored_after_capture"
    after = await _payment(hub, world, view["payment_id"])
    assert (after["status"], after["outcome"]) == ("captured", "booking_confirmed")
    assert after["refunds"] == []
    assert [(h["status"], str(h["id"])) for h in await _holds_of(db, world)] == [
        ("confirmed", hold_id)
    ]
    assert await _ledger_of(db, view["payment_id"]) == (2, 0)


async def test_a_paid_hold_is_confirmed_once_when_its_webhook_comes_again_after_a_restart(
    hub, db, edges, gateway_emulators, migrated_dsn, ray_session
):
    world, _ = edges  # ₹1,100: Cashfree
    hold_id = await _hold(hub, world)
    async with _user(hub, world) as http:
        view = await _pay_request(http, hub, hold_id)
    assert view["gateway"] == "cashfree"
    await _checkout(gateway_emulators, "cashfree", _order(view))
    assert (await _wait_outcome(hub, world, view["payment_id"]))["outcome"] == "booking_confirmed"
    async with db.acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT event_id, raw_body, headers FROM webhook_inbox WHERE tenant_id = $1 "
            "AND event_type = 'PAYMENT_SUCCESS_WEBHOOK' ORDER BY id LIMIT 1",
            world.tenant_id,
        )
    assert stored is not None
    received = json.loads(stored["headers"])
    # Exactly what the gateway signed; hop-by-hop headers are the client's own business.
    replay = {k: v for k, v in received.items() if k.startswith("x-") or k == "content-type"}
    age_secs = time.time() - int(replay["x-webhook-timestamp"]) / 1000
    assert age_secs < CASHFREE_WEBHOOK_TOLERANCE_SECS, "the stored signature is too old to replay"

    restarted, runner = await start_hub(hub_settings(), migrated_dsn)
    try:
        async with aiohttp.ClientSession() as http:
            for target in (restarted, hub):
                resp = await http.post(
                    f"{target.url}/api/v1/webhooks/cashfree/{world.tenant_id}",
                    data=bytes(stored["raw_body"]),
                    headers=replay,
                )
                assert resp.status == 200, await resp.text()
                assert await resp.json() == {"status": "duplicate"}
        await asyncio.sleep(0.5)  # time for any (wrong) second application to show
    finally:
        await runner.cleanup()
    async with db.acquire() as conn:
        copies = await conn.fetchval(
            "SELECT count(*) FROM webhook_inbox WHERE gateway = 'cashfree' AND event_id = $1",
            stored["event_id"],
        )
    assert copies == 1
    assert [(h["status"], str(h["id"])) for h in await _holds_of(db, world)] == [
        ("confirmed", hold_id)
    ]
    assert await _ledger_of(db, view["payment_id"]) == (2, 0)
    again = await _payment(hub, world, view["payment_id"])
    assert (again["status"], again["outcome"], again["refunds"]) == (
        "captured",
        "booking_confirmed",
        [],
    )


async def test_a_capture_after_the_hold_expired_holds_again_while_places_remain(
    hub, db, gateway_emulators
):
    world = await make_world(db, capacity=5, hold_ttl_secs=SHORT_HOLD_TTL_SECS)
    await _configure(hub, db, gateway_emulators, world)
    hold_id = await _hold(hub, world, qty=2)
    async with _user(hub, world) as http:
        view = await _pay_request(http, hub, hold_id)
    await _wait_hold_status(db, hold_id, "expired", within=SHORT_HOLD_TTL_SECS + 10)
    await _checkout(gateway_emulators, view["gateway"], _order(view))
    settled = await _wait_outcome(hub, world, view["payment_id"])
    assert (settled["status"], settled["outcome"]) == ("captured", "booking_confirmed")
    assert settled["refunds"] == []
    holds = await _holds_of(db, world)
    assert [(str(h["id"]), h["status"]) for h in holds[:1]] == [(hold_id, "expired")]
    again = [h for h in holds if str(h["id"]) != hold_id]
    assert [(h["status"], h["user_id"], h["slot_id"], h["qty"]) for h in again] == [
        ("confirmed", world.user_ids[0], world.slot_ids[0], 2)
    ]
    assert await _ledger_of(db, view["payment_id"]) == (2, 0)


async def test_a_capture_after_the_hold_expired_and_the_place_went_is_refunded_in_full(
    hub, db, gateway_emulators
):
    world = await make_world(db, capacity=1, users=2, hold_ttl_secs=SHORT_HOLD_TTL_SECS)
    merchants = await _configure(hub, db, gateway_emulators, world)
    hold_id = await _hold(hub, world)
    async with _user(hub, world) as http:
        view = await _pay_request(http, hub, hold_id)
    assert view["gateway"] == "cashfree"  # ₹1,100
    await _wait_hold_status(db, hold_id, "expired", within=SHORT_HOLD_TTL_SECS + 10)
    # The other devotee's hold must outlive the late payment: give the tenant a long TTL.
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE tenants SET settings = settings || '{\"hold_ttl_secs\": 600}'::jsonb "
            "WHERE id = $1",
            world.tenant_id,
        )
    await hub.app[keys.SHARDS].execute(RefreshTenantCommand(world.tenant_id))
    theirs = await _hold_as(hub, world, 1)  # the last place

    await _checkout(gateway_emulators, "cashfree", _order(view))
    settled = await _wait_outcome(hub, world, view["payment_id"])
    assert (settled["status"], settled["outcome"]) == ("captured", "refunded_unfulfillable")
    assert settled["refunded_paise"] == settled["captured_paise"] == 110_000
    assert [(r["amount_paise"], r["reason"]) for r in settled["refunds"]] == [
        (110_000, "automatic")
    ]
    assert settled["refunds"][0]["status"] in ("processed", "pending")
    assert sorted((str(h["id"]), h["status"]) for h in await _holds_of(db, world)) == sorted(
        [(hold_id, "expired"), (theirs, "held")]
    )

    merchant = merchants["cashfree"]
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.get(
            f"{merchant.base_url}/orders/{_order(view)}/refunds",
            headers={
                "x-client-id": merchant.key_id,
                "x-client-secret": merchant.key_secret,
                "x-api-version": "2025-01-01",
            },
        ) as resp,
    ):
        at_gateway = await resp.json()
    assert [(r["refund_id"], r["refund_amount"]) for r in at_gateway] == [
        (uuid.UUID(settled["refunds"][0]["refund_id"]).hex, 1100)
    ]
    async with db.acquire() as conn:
        given_back = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id = $1",
            f"refund:{settled['refunds'][0]['refund_id']}",
        )
    assert given_back == 1
    assert await _ledger_of(db, view["payment_id"]) == (2, 0)


async def test_a_wallet_top_up_through_a_gateway_credits_the_wallet(
    hub, db, edges, gateway_emulators
):
    world, _ = edges
    async with _user(hub, world) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/payments/intents",
            json={"purpose": "wallet_topup", "amount_paise": 75_000},
            headers={"Idempotency-Key": f"topup-{uuid.uuid4().hex}"},
        )
        assert resp.status == 201, await resp.text()
        view = await resp.json()
        assert (view["purpose"], view["amount_paise"]) == ("wallet_topup", 75_000)
        await _checkout(gateway_emulators, view["gateway"], _order(view))
        settled = await _wait_outcome(hub, world, view["payment_id"])
        assert (settled["status"], settled["outcome"]) == ("captured", "wallet_credited")
        wallets = await (await http.get(f"{hub.url}/api/v1/wallets/me")).json()
    inr = [w for w in wallets["wallets"] if w["currency"] == "INR"]
    assert [(w["balance"], w["available"]) for w in inr] == [(75_000, 75_000)]
    _booked, violations = await _ledger_of(db, view["payment_id"])
    assert violations == 0


async def test_after_three_failed_orders_the_breaker_sends_payments_past_cashfree(
    fresh_hub, db, gateway_emulators
):
    # A timeout fault would cost the adapter's 10 s request timeout per order: 500s trip the
    # breaker just the same (three failures in a row).
    world = await make_world(db, capacity=5)
    await _configure(fresh_hub, db, gateway_emulators, world)
    await _set_price(db, world, 100_000)  # ₹1,000: Cashfree is cheaper
    try:
        await _emulator(
            gateway_emulators,
            "cashfree",
            "faults",
            {"mode": "error_500", "routes": ["POST /pg/orders"]},
        )
        async with _user(fresh_hub, world) as http:
            for _ in range(3):
                view = await _pay_request(http, fresh_hub, await _hold(fresh_hub, world))
                assert [(a["gateway"], a["status"]) for a in view["attempts"]] == [
                    ("cashfree", "error"),
                    ("razorpay", "open"),
                ]
            # Cashfree works again, but this process has stopped asking it for a while.
            await _emulator(gateway_emulators, "cashfree", "faults", {})
            fourth = await _pay_request(http, fresh_hub, await _hold(fresh_hub, world))
    finally:
        await _reset_emulators(gateway_emulators)
    assert fourth["gateway"] == "razorpay"
    assert [(a["gateway"], a["status"]) for a in fourth["attempts"]] == [("razorpay", "open")]
