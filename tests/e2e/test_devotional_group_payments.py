"""One payment for a whole devotional booking group: from the wallet (one pending transfer,
a linked confirm of every hold, then post — or void and release) and at a gateway (one intent
routed like any payment; on capture every hold confirmed once, even under duplicated
webhooks, or the money refunded); the sweeper finishing what a dead request left; the ledger
checked after each."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from actors.commands import ConfirmHoldGroupCommand
from actors.ledger import TransferSpec
from hub import keys
from hub.group_payments import RESERVATION_SECS
from hub.rest_devotional import GROUP_PAYMENTS
from storage import group_payments
from storage import ledger as ledger_db
from storage.ledger_verify import verify_ledger
from storage.tenancy import tenant_scope
from tests.devotional_support import (
    CHADHAVA_PRICE,
    PUJA_PRICE,
    Temple,
    book_puja,
    call,
    make_temple,
)
from tests.support import Hub, configure_gateways, fund_wallet, user_token

pytestmark = pytest.mark.timeout(120)

TOTAL = 2 * PUJA_PRICE + 2 * CHADHAVA_PRICE + CHADHAVA_PRICE  # two names, 2 + 1 offerings


async def _book(http: aiohttp.ClientSession, hub: Hub, temple: Temple) -> dict[str, Any]:
    token = user_token(hub, temple.world, 0)
    status, group = await book_puja(http, hub, token, temple, ["Asha", "Ravi"], [(0, 2), (1, 1)])
    assert status == 201, group
    assert group["amount_paise"] == TOTAL
    return group


async def _pay(
    http: aiohttp.ClientSession, hub: Hub, temple: Temple, group_id: str, method: str, key: str
) -> tuple[int, dict[str, Any]]:
    return await call(
        http,
        "POST",
        f"{hub.url}/api/v1/devotional/bookings/{group_id}/pay",
        user_token(hub, temple.world, 0),
        {"method": method, "idempotency_key": key},
    )


async def _statuses(db: asyncpg.Pool, group: dict[str, Any]) -> set[str]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status FROM holds WHERE id = ANY($1::uuid[])",
            [uuid.UUID(h["hold_id"]) for h in group["holds"]],
        )
    return {r["status"] for r in rows}


async def _available(db: asyncpg.Pool, wallet: uuid.UUID) -> int:
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert account is not None
    return account.available


async def _ledger_ok(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        report = await verify_ledger(conn)
    assert report["violations"] == 0, report


async def test_a_group_paid_from_the_wallet_is_confirmed_whole_by_one_transfer(
    hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db)
    async with aiohttp.ClientSession() as http:
        group = await _book(http, hub, temple)
        gid = group["group_id"]
        wallet = await fund_wallet(hub, db, temple.world, TOTAL - 1)
        status, short = await _pay(http, hub, temple, gid, "wallet", "p1")
        assert status == 409 and short["error"]["code"] == "insufficient_funds", short
        assert await _statuses(db, group) == {"held"}
        assert await _available(db, wallet) == TOTAL - 1

        await fund_wallet(hub, db, temple.world, 1)
        status, paid = await _pay(http, hub, temple, gid, "wallet", "p1")
        assert status == 200, paid
        assert paid["group"]["status"] == "confirmed"
        assert paid["group_payment"] == {
            "method": "wallet",
            "status": "confirmed",
            "amount_paise": TOTAL,
            "idempotency_key": "p1",
            "payment_id": None,
        }
        assert await _statuses(db, group) == {"confirmed"}
        assert await _available(db, wallet) == 0

        status, again = await _pay(http, hub, temple, gid, "wallet", "p1")
        assert status == 200 and again["group_payment"]["status"] == "confirmed"
        status, other = await _pay(http, hub, temple, gid, "gateway", "p2")
        assert status == 409 and other["error"]["details"]["reason"] == "already_paid"
        status, twice = await call(
            http,
            "POST",
            f"{hub.url}/api/v1/devotional/bookings/{gid}/pay-from-wallet",
            user_token(hub, temple.world, 0),
        )
        assert status == 409 and twice["error"]["details"]["reason"] == "already_paid"
        status, stranger = await call(
            http,
            "POST",
            f"{hub.url}/api/v1/devotional/bookings/{gid}/pay",
            user_token(hub, temple.world, 1),
            {"method": "wallet", "idempotency_key": "p3"},
        )
        assert status == 404, stranger
    async with db.acquire() as conn:
        transfers = await conn.fetch(
            "SELECT id, amount FROM ledger_transfers WHERE id LIKE $1 ORDER BY id",
            f"grouppay:{gid}%",
        )
    assert [(r["id"], r["amount"]) for r in transfers] == [
        (f"grouppay:{gid}", TOTAL),
        (f"grouppay:{gid}:post", TOTAL),
    ]
    await _ledger_ok(db)


async def test_a_group_with_a_hold_gone_pays_nothing_and_releases_the_rest(
    hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db)
    async with aiohttp.ClientSession() as http:
        group = await _book(http, hub, temple)
        gid = group["group_id"]
        wallet = await fund_wallet(hub, db, temple.world, TOTAL)
        gone = group["holds"][2]["hold_id"]  # an offering let go on its own
        status, _ = await call(
            http, "DELETE", f"{hub.url}/api/v1/holds/{gone}", user_token(hub, temple.world, 0)
        )
        assert status == 200
        status, refused = await _pay(http, hub, temple, gid, "wallet", "p1")
        assert status == 409, refused
        assert refused["error"]["details"] == {"status": "mixed"}
    assert await _available(db, wallet) == TOTAL
    await _ledger_ok(db)


@pytest.fixture
async def gateways(hub: Hub, db: asyncpg.Pool, gateway_emulators: Any) -> AsyncIterator[Temple]:
    """A temple whose tenant has both gateways (fresh emulator merchants whose webhooks come
    back to this hub), every webhook sent three times."""
    temple = await make_temple(db)
    await configure_gateways(hub, db, gateway_emulators, temple.world.tenant_id)
    for gateway in ("razorpay", "cashfree"):
        await _emulator(gateway_emulators, gateway, "webhooks/mode", {"duplicate": 3})
    yield temple
    for gateway in ("razorpay", "cashfree"):
        await _emulator(
            gateway_emulators,
            gateway,
            "webhooks/mode",
            {"duplicate": 1, "drop": False, "reorder": False},
        )


async def _emulator(emulators: Any, gateway: str, path: str, body: dict[str, Any]) -> None:
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.post(f"{emulators.url(gateway)}/_emulator/{path}", json=body),
    ):
        pass


async def _checkout(emulators: Any, payment: dict[str, Any]) -> None:
    gateway = payment["gateway"]
    order = payment["checkout"][gateway]["order_id"]
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.post(f"{emulators.url(gateway)}/_emulator/orders/{order}/pay", json={}),
    ):
        pass


async def _outcome(http: aiohttp.ClientSession, hub: Hub, temple: Temple, pid: str) -> dict:
    token = user_token(hub, temple.world, 0)
    for _ in range(150):
        _, view = await call(http, "GET", f"{hub.url}/api/v1/payments/{pid}", token)
        if view["outcome"] is not None:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"payment never settled: {view}")


async def test_a_group_paid_at_the_cheaper_gateway_is_confirmed_once_under_duplicate_webhooks(
    hub: Hub, db: asyncpg.Pool, gateways: Temple, gateway_emulators: Any
) -> None:
    temple = gateways
    async with aiohttp.ClientSession() as http:
        group = await _book(http, hub, temple)
        gid = group["group_id"]
        status, started = await _pay(http, hub, temple, gid, "gateway", "g1")
        assert status == 200, started
        payment = started["payment"]
        assert payment["purpose"] == "booking_group" and payment["amount_paise"] == TOTAL
        # Above ₹601 Cashfree's fee (1.75 % + ₹1.75 … ) is below Razorpay's 2 %.
        assert payment["gateway"] == "cashfree", payment
        assert started["group_payment"]["status"] == "pending"
        assert await _statuses(db, group) == {"held"}
        status, again = await _pay(http, hub, temple, gid, "gateway", "g1")
        assert status == 200 and again["payment"]["payment_id"] == payment["payment_id"]

        await _checkout(gateway_emulators, payment)
        settled = await _outcome(http, hub, temple, payment["payment_id"])
        assert settled["status"] == "captured" and settled["outcome"] == "booking_confirmed"
        await asyncio.sleep(1.0)  # every duplicate arrives and is applied
        _, view = await call(
            http,
            "GET",
            f"{hub.url}/api/v1/devotional/bookings/{gid}",
            user_token(hub, temple.world, 0),
        )
        assert view["status"] == "confirmed", view
    async with db.acquire() as conn:
        booked = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id LIKE $1",
            f"pay:{payment['payment_id']}:%",
        )
        confirmations = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'hold.confirmed' "
            "AND subject_id = ANY($1::uuid[])",
            [uuid.UUID(h["hold_id"]) for h in group["holds"]],
        )
        refunds = await conn.fetchval(
            "SELECT count(*) FROM payment_refunds WHERE intent_id = $1",
            uuid.UUID(payment["payment_id"]),
        )
    assert booked == 2  # net to the tenant and the gateway's fee, once
    assert confirmations == len(group["holds"])  # each hold confirmed exactly once
    assert refunds == 0
    await _ledger_ok(db)


async def test_a_captured_group_whose_hold_lapsed_is_refunded_and_released(
    hub: Hub, db: asyncpg.Pool, gateways: Temple, gateway_emulators: Any
) -> None:
    temple = gateways
    async with aiohttp.ClientSession() as http:
        group = await _book(http, hub, temple)
        gid = group["group_id"]
        status, started = await _pay(http, hub, temple, gid, "gateway", "g1")
        assert status == 200, started
        payment = started["payment"]
        # One offering's hold is let go while the devotee is at the gateway.
        gone = group["holds"][1]["hold_id"]
        status, _ = await call(
            http, "DELETE", f"{hub.url}/api/v1/holds/{gone}", user_token(hub, temple.world, 0)
        )
        assert status == 200
        await _checkout(gateway_emulators, payment)
        settled = await _outcome(http, hub, temple, payment["payment_id"])
        assert settled["outcome"] == "refunded_unfulfillable", settled
        assert [r["amount_paise"] for r in settled["refunds"]] == [TOTAL]
        await asyncio.sleep(1.0)
        status, refused = await _pay(http, hub, temple, gid, "gateway", "g1")
        assert status == 409 and refused["error"]["details"]["hold_id"] == gone, refused
        status, afresh = await _pay(http, hub, temple, gid, "wallet", "w1")
        assert status == 409 and afresh["error"]["details"] == {"status": "released"}, afresh
    assert await _statuses(db, group) == {"released"}
    async with db.acquire() as conn:
        booked = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id LIKE $1",
            f"pay:{payment['payment_id']}:%",
        )
    assert booked == 0  # never booked to the tenant
    await _ledger_ok(db)


async def _dead_request(hub: Hub, db: asyncpg.Pool, temple: Temple, group: dict[str, Any]) -> str:
    """What a wallet payment request leaves when it dies after reserving the money: the
    record, and the pending transfer of the total."""
    tenant_id, user_id = temple.world.tenant_id, temple.world.user_ids[0]
    group_id = uuid.UUID(group["group_id"])
    pending_id = f"grouppay:{group_id}"
    async with tenant_scope(db, tenant_id) as conn:
        await group_payments.put(
            conn,
            group_id=group_id,
            tenant_id=tenant_id,
            user_id=user_id,
            method="wallet",
            idempotency_key="died",
            amount_paise=TOTAL,
            pending_id=pending_id,
        )
    async with db.acquire() as conn:
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=tenant_id,
            owner_user_id=user_id,
            limited=True,
        )
        payable = await ledger_db.ensure_account(
            conn, code="tenant_payable", currency="INR", tenant_id=tenant_id
        )
    await hub.app[keys.WALLETS].apply(
        (
            TransferSpec(
                pending_id,
                wallet,
                payable,
                TOTAL,
                code="group_payment",
                pending=True,
                timeout_secs=RESERVATION_SECS,
                user_data={"group_id": str(group_id)},
            ),
        )
    )
    return pending_id


async def _record(db: asyncpg.Pool, temple: Temple, group: dict[str, Any]) -> Any:
    async with tenant_scope(db, temple.world.tenant_id, readonly=True) as conn:
        return await group_payments.get(
            conn, tenant_id=temple.world.tenant_id, group_id=uuid.UUID(group["group_id"])
        )


async def test_the_sweeper_posts_the_money_of_a_group_confirmed_by_a_request_that_died(
    hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db)
    async with aiohttp.ClientSession() as http:
        group = await _book(http, hub, temple)
    wallet = await fund_wallet(hub, db, temple.world, TOTAL)
    pending_id = await _dead_request(hub, db, temple, group)
    await hub.app[keys.SHARDS].submit(
        ConfirmHoldGroupCommand(
            temple.world.tenant_id, tuple(uuid.UUID(h["hold_id"]) for h in group["holds"])
        )
    )
    assert await hub.app[GROUP_PAYMENTS].sweep(older_than_secs=0) >= 1
    assert (await _record(db, temple, group)).status == "confirmed"
    assert await _statuses(db, group) == {"confirmed"}
    assert await _available(db, wallet) == 0
    async with db.acquire() as conn:
        posted = await conn.fetchval(
            "SELECT amount FROM ledger_transfers WHERE id = $1", f"{pending_id}:post"
        )
    assert posted == TOTAL
    await _ledger_ok(db)


async def test_the_sweeper_voids_a_dead_requests_reservation_when_a_hold_is_gone(
    hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db)
    async with aiohttp.ClientSession() as http:
        group = await _book(http, hub, temple)
        wallet = await fund_wallet(hub, db, temple.world, TOTAL)
        await _dead_request(hub, db, temple, group)
        status, _ = await call(
            http,
            "DELETE",
            f"{hub.url}/api/v1/holds/{group['holds'][0]['hold_id']}",
            user_token(hub, temple.world, 0),
        )
        assert status == 200
        assert await hub.app[GROUP_PAYMENTS].sweep(older_than_secs=0) >= 1
        record = await _record(db, temple, group)
        assert record.status == "cancelled" and record.reason == group["holds"][0]["hold_id"]
        assert await _statuses(db, group) == {"released"}
        assert await _available(db, wallet) == TOTAL
        # The same request, retried now, gets the refusal; nothing moves.
        status, refused = await _pay(http, hub, temple, group["group_id"], "wallet", "died")
        assert status == 409 and refused["error"]["details"]["reason"] == "hold_unavailable"
    assert await _available(db, wallet) == TOTAL
    await _ledger_ok(db)
