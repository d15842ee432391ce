"""Wallets on the real path: hub → wallet shards on Ray → PostgreSQL, then the invariants."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import asyncpg
import pytest
import ray

from actors.ledger import PostSpec, TransferSpec, VoidSpec
from actors.placement import shard_for
from hub import keys
from protocols.errors import Conflict, InsufficientFunds, SevaError
from storage import ledger as ledger_db
from storage.ledger_verify import verify_ledger
from tests.support import (
    Hub,
    bearer,
    connect,
    eventually,
    make_user,
    make_world,
    token_for,
    user_token,
)


async def _verify(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        report = await verify_ledger(conn)
    assert report["violations"] == 0, report


async def _funded_wallet(hub: Hub, db_pool: asyncpg.Pool, amount: int):
    """A user's INR wallet topped up with ``amount`` from the gateway clearing account."""
    world = await make_world(db_pool)
    service = hub.app[keys.WALLETS]
    async with db_pool.acquire() as conn:
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=world.tenant_id,
            owner_user_id=world.user_ids[0],
            limited=True,
        )
        clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
        revenue = await ledger_db.ensure_account(conn, code="platform_revenue", currency="INR")
    await service.apply((TransferSpec(f"topup-{uuid.uuid4()}", clearing, wallet, amount),))
    return world, wallet, revenue


async def _apply(hub: Hub, *ops):
    try:
        return await hub.app[keys.WALLETS].apply(tuple(ops))
    except SevaError as exc:
        return exc


async def test_a_thousand_racing_debits_take_exactly_what_the_wallet_holds(
    hub: Hub, db: asyncpg.Pool
):
    _, wallet, revenue = await _funded_wallet(hub, db, 600)
    results = await asyncio.gather(
        *(
            _apply(hub, TransferSpec(f"debit-{uuid.uuid4()}", wallet, revenue, 1))
            for _ in range(1000)
        )
    )
    won = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(won) == 600
    assert len(refused) == 400
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert account.balance == 0 and account.available == 0
    await _verify(db)


async def test_one_transfer_id_sent_twenty_times_is_applied_once(hub: Hub, db: asyncpg.Pool):
    _, wallet, revenue = await _funded_wallet(hub, db, 1000)
    spec = TransferSpec(f"same-{uuid.uuid4()}", wallet, revenue, 70)
    results = await asyncio.gather(*(_apply(hub, spec) for _ in range(20)))
    assert all(isinstance(r, tuple) for r in results)
    assert len({r[0] for r in results}) == 1
    different = await _apply(hub, TransferSpec(spec.transfer_id, wallet, revenue, 71))
    assert isinstance(different, Conflict)
    assert different.details["reason"] == "exists_with_different_amount"
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert account.balance == 930
    await _verify(db)


async def test_pending_post_partial_void_timeout_and_double_post(hub: Hub, db: asyncpg.Pool):
    _, wallet, revenue = await _funded_wallet(hub, db, 1000)
    pending = f"hold-{uuid.uuid4()}"
    [held] = await hub.app[keys.WALLETS].apply(
        (TransferSpec(pending, wallet, revenue, 400, pending=True, timeout_secs=600),)
    )
    assert held.kind == "pending"
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert (account.balance, account.available) == (1000, 600)
    # Reserved money cannot be spent twice.
    assert isinstance(
        await _apply(hub, TransferSpec(f"x-{uuid.uuid4()}", wallet, revenue, 601)),
        InsufficientFunds,
    )
    [posted] = await hub.app[keys.WALLETS].apply((PostSpec(f"post-{pending}", pending, 250),))
    assert posted.amount == 250
    again = await _apply(hub, PostSpec(f"post2-{pending}", pending, 100))
    assert isinstance(again, Conflict) and again.details["reason"] == "already_posted"
    void_late = await _apply(hub, VoidSpec(f"void-{pending}", pending))
    assert isinstance(void_late, Conflict) and void_late.details["reason"] == "already_posted"
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert (account.balance, account.available, account.debits_pending) == (750, 750, 0)

    voided = f"hold-{uuid.uuid4()}"
    await hub.app[keys.WALLETS].apply((TransferSpec(voided, wallet, revenue, 100, pending=True),))
    await hub.app[keys.WALLETS].apply((VoidSpec(f"void-{voided}", voided),))
    short = f"hold-{uuid.uuid4()}"
    await hub.app[keys.WALLETS].apply(
        (TransferSpec(short, wallet, revenue, 300, pending=True, timeout_secs=1),)
    )

    async def released() -> bool:
        async with db.acquire() as conn:
            account = await ledger_db.get_account(conn, account_id=wallet)
            return account.debits_pending == 0

    for _ in range(100):
        if await released():
            break
        await asyncio.sleep(0.05)
    assert await released()
    expired = await _apply(hub, PostSpec(f"post-{short}", short))
    assert isinstance(expired, Conflict) and expired.details["reason"] == "already_expired"
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert (account.balance, account.available) == (750, 750)
    await _verify(db)


async def test_killing_the_wallet_shard_mid_load_loses_and_doubles_nothing(
    hub: Hub, db: asyncpg.Pool
):
    _, wallet, revenue = await _funded_wallet(hub, db, 300)
    pool = hub.app[keys.WALLET_SHARDS]
    ids = [f"crash-{uuid.uuid4()}" for _ in range(400)]
    acked: list[str] = []

    async def debit(transfer_id: str) -> None:
        for _ in range(60):
            result = await _apply(hub, TransferSpec(transfer_id, wallet, revenue, 1))
            if isinstance(result, tuple):
                acked.append(transfer_id)
                return
            if not (isinstance(result, SevaError) and result.code == "unavailable"):
                return  # insufficient funds is an answer too
            await asyncio.sleep(0.2)

    load = asyncio.gather(*(debit(t) for t in ids))
    await eventually(lambda: len(acked) >= 30)
    ray.kill(pool.handle(shard_for(wallet, pool.shard_count)), no_restart=False)
    await load
    assert len(acked) == 300
    async with db.acquire() as conn:
        stored = await conn.fetch(
            "SELECT id FROM ledger_transfers WHERE debit_account_id = $1", wallet
        )
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert sorted(r["id"] for r in stored) == sorted(acked)
    assert account.balance == 0
    await _verify(db)


async def test_credits_purchase_allocation_and_deduction_keep_the_books_balanced(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    op = bearer(token_for(hub, operator, None, "platform_admin"))
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    admin_socket = await connect(hub, token_for(hub, admin, world.tenant_id, "tenant_admin"))
    lows: list[dict] = []
    admin_socket.sio.on("credits:low", lambda data: lows.append(data))
    tag = uuid.uuid4().hex[:8]
    try:
        async with aiohttp.ClientSession(headers=op) as http:
            bought = await http.post(
                f"{hub.url}/api/v1/admin/credits/purchase",
                json={
                    "channel": "SMS",
                    "units": 1000,
                    "wholesale_rate_paise": 12,
                    "vendor": "msg91",
                    "transfer_id": f"buy-{tag}",
                },
            )
            assert bought.status == 201, await bought.text()
            given = await http.post(
                f"{hub.url}/api/v1/admin/credits/allocate",
                json={
                    "tenant_id": str(world.tenant_id),
                    "channel": "SMS",
                    "units": 100,
                    "retail_rate_paise": 20,
                    "low_balance_threshold": 10,
                    "transfer_id": f"give-{tag}",
                },
            )
            assert given.status == 201, await given.text()
            retry = await http.post(
                f"{hub.url}/api/v1/admin/credits/allocate",
                json={
                    "tenant_id": str(world.tenant_id),
                    "channel": "SMS",
                    "units": 100,
                    "retail_rate_paise": 20,
                    "transfer_id": f"give-{tag}",
                },
            )
            assert await retry.json() == await given.json()
            for n in range(91):
                used = await http.post(
                    f"{hub.url}/api/v1/credits/deduct",
                    json={
                        "tenant_id": str(world.tenant_id),
                        "channel": "SMS",
                        "transfer_id": f"use-{tag}-{n}",
                    },
                )
                assert used.status == 201
            wallets = await (await http.get(f"{hub.url}/api/v1/admin/credits/wallets")).json()
            mine = [w for w in wallets["wallets"] if w["tenant_id"] == str(world.tenant_id)]
            assert [(w["currency"], w["balance"]) for w in mine] == [("SMS", 9)]
            profit = await (await http.get(f"{hub.url}/api/v1/admin/credits/profit")).json()
            sms = next(c for c in profit["channels"] if c["channel"] == "SMS")
            assert sms["margin_paise"] == sms["revenue_paise"] - sms["cost_of_sold_paise"]
            assert sms["revenue_paise"] >= 100 * 20
        await eventually(lambda: len(lows) == 1)
        assert lows[0]["available"] == 9 and lows[0]["threshold"] == 10
    finally:
        await admin_socket.close()
    await _verify(db)


async def test_a_user_sees_and_follows_only_their_own_wallets(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db, users=2)
    mine, theirs = user_token(hub, world, 0), user_token(hub, world, 1)
    async with aiohttp.ClientSession() as http:
        wallets = await (
            await http.get(f"{hub.url}/api/v1/wallets/me", headers=bearer(mine))
        ).json()
        assert sorted(w["currency"] for w in wallets["wallets"]) == ["COIN", "INR"]
        inr = next(w for w in wallets["wallets"] if w["currency"] == "INR")
        other = await http.get(
            f"{hub.url}/api/v1/wallets/{inr['wallet_id']}", headers=bearer(theirs)
        )
        assert other.status == 404
    client = await connect(hub, mine)
    pushed: list[dict] = []
    client.sio.on("wallet", lambda data: pushed.append(data))
    try:
        ack = await client.call("wallet:get", {})
        assert {w["currency"] for w in ack["data"]["wallets"]} == {"COIN", "INR"}
        async with db.acquire() as conn:
            clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
        await hub.app[keys.WALLETS].apply(
            (TransferSpec(f"topup-{uuid.uuid4()}", clearing, uuid.UUID(inr["wallet_id"]), 5000),)
        )
        await eventually(lambda: len(pushed) == 1)
        assert pushed[0]["wallet_id"] == inr["wallet_id"]
        assert pushed[0]["balances"]["balance"] == 5000
        async with aiohttp.ClientSession() as http:
            page = await (
                await http.get(
                    f"{hub.url}/api/v1/wallets/{inr['wallet_id']}/ledger", headers=bearer(mine)
                )
            ).json()
        assert [(e["side"], e["amount"]) for e in page["entries"]] == [("credit", 5000)]
    finally:
        await client.close()


async def test_wallet_hold_routes_for_staff(hub: Hub, db: asyncpg.Pool):
    world, wallet, _ = await _funded_wallet(hub, db, 2000)
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    headers = bearer(token_for(hub, admin, world.tenant_id, "tenant_admin"))
    async with aiohttp.ClientSession(headers=headers) as http:
        held = await http.post(
            f"{hub.url}/api/v1/wallets/{wallet}/holds",
            json={"amount": 1500, "timeout_secs": 600},
            headers={"Idempotency-Key": "puja-hold-1"},
        )
        assert held.status == 201, await held.text()
        hold = await held.json()
        posted = await http.post(
            f"{hub.url}/api/v1/wallet-holds/{hold['transfer_id']}/post",
            json={"amount": 1100, "transfer_id": "puja-post-1"},
        )
        assert posted.status == 200, await posted.text()
        again = await http.post(
            f"{hub.url}/api/v1/wallet-holds/{hold['transfer_id']}/void",
            json={"transfer_id": "puja-void-1"},
        )
        assert again.status == 409
        assert (await again.json())["error"]["details"]["reason"] == "already_posted"
    user_headers = bearer(user_token(hub, world))
    async with aiohttp.ClientSession(headers=user_headers) as http:
        denied = await http.post(
            f"{hub.url}/api/v1/wallets/{wallet}/holds", json={"amount": 1, "transfer_id": "nope"}
        )
        assert denied.status == 403
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert (account.balance, account.available) == (900, 900)


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True])
async def test_bad_wallet_hold_amounts_are_invalid(hub: Hub, db: asyncpg.Pool, amount):
    world, wallet, _ = await _funded_wallet(hub, db, 100)
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    async with aiohttp.ClientSession(
        headers=bearer(token_for(hub, admin, world.tenant_id, "tenant_admin"))
    ) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/wallets/{wallet}/holds",
            json={"amount": amount, "transfer_id": f"bad-{uuid.uuid4()}"},
        )
        assert resp.status == 422
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
    assert account.debits_pending == 0


async def test_credits_given_after_a_refusal_are_seen_by_the_next_reservation(
    hub: Hub, db: asyncpg.Pool
):
    """The tenant's credit wallet is cached by its own shard; credits given to it are applied
    by the shard of the platform's inventory. A reservation refused earlier must not keep
    being refused on the stale cache."""
    wallets = hub.app[keys.WALLETS]
    shard_count = hub.app[keys.SETTINGS].wallet_shards or hub.app[keys.SETTINGS].shards
    async with db.acquire() as conn:
        inventory = await ledger_db.ensure_account(
            conn, code="credit_inventory", currency="SMS", limited=True
        )
    for _ in range(20):  # a tenant whose credit wallet lives on another shard than inventory
        world = await make_world(db)
        async with db.acquire() as conn:
            credits = await ledger_db.ensure_account(
                conn,
                code="tenant_credits",
                currency="SMS",
                tenant_id=world.tenant_id,
                limited=True,
            )
        if shard_for(credits, shard_count) != shard_for(inventory, shard_count):
            break
    else:
        raise AssertionError("no tenant on another shard in 20 tries")
    tag = uuid.uuid4().hex
    with pytest.raises(InsufficientFunds):
        await wallets.reserve_credits(
            tenant_id=world.tenant_id, channel="SMS", units=1, pending_id=f"r1-{tag}"
        )
    await wallets.purchase_credits(
        channel="SMS", units=5, rate_paise=0, vendor="test", transfer_id=f"buy-{tag}"
    )
    await wallets.allocate_credits(
        tenant_id=world.tenant_id,
        channel="SMS",
        units=5,
        rate_paise=0,
        transfer_id=f"give-{tag}",
        low_balance_threshold=None,
    )
    record = await wallets.reserve_credits(
        tenant_id=world.tenant_id, channel="SMS", units=1, pending_id=f"r2-{tag}"
    )
    assert record.amount == 1
