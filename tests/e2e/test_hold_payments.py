"""A slot hold paid from the wallet: hold = pending, confirmed = post, released/expired = void."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import asyncpg

from actors.ledger import TransferSpec
from hub import keys
from storage import ledger as ledger_db
from storage.ledger_verify import verify_ledger
from tests.support import Hub, bearer, connect, fund_wallet, make_world, user_token


async def _fund(hub: Hub, db: asyncpg.Pool, world, amount: int) -> uuid.UUID:
    return await fund_wallet(hub, db, world, amount)


async def test_paying_a_hold_from_the_wallet_confirms_it_and_moves_the_money_once(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=5)  # price 110000 paise per place
    wallet = await _fund(hub, db, world, 300_000)
    client = await connect(hub, user_token(hub, world))
    try:
        hold = (
            await client.call(
                "hold:create",
                {"slot_id": str(world.slot_ids[0]), "qty": 2, "idempotency_key": "pay-1"},
            )
        )["data"]
        paid, again = await asyncio.gather(
            client.call("hold:pay", {"hold_id": hold["hold_id"]}),
            client.call("hold:pay", {"hold_id": hold["hold_id"]}),
        )
        assert paid["ok"] and again["ok"], (paid, again)
        assert paid["data"]["status"] == "confirmed"
        assert paid["data"]["amount_paise"] == 220_000
        async with aiohttp.ClientSession(headers=bearer(user_token(hub, world))) as http:
            rest = await http.post(f"{hub.url}/api/v1/holds/{hold['hold_id']}/pay-from-wallet")
            assert rest.status == 200
        released = await client.call("hold:release", {"hold_id": hold["hold_id"]})
        assert released["error"]["code"] == "conflict"  # a confirmed booking is not released
    finally:
        await client.close()
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
        state = await conn.fetchval(
            "SELECT state FROM hold_payments WHERE hold_id = $1", uuid.UUID(hold["hold_id"])
        )
        slot = await conn.fetchrow(
            "SELECT held_qty, confirmed_qty FROM slots WHERE id = $1", world.slot_ids[0]
        )
        report = await verify_ledger(conn)
    assert (account.balance, account.available, account.debits_pending) == (80_000, 80_000, 0)
    assert state == "done"
    assert (slot["held_qty"], slot["confirmed_qty"]) == (0, 2)
    assert report["violations"] == 0


async def test_not_enough_money_leaves_the_hold_held_and_the_wallet_untouched(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=5)
    wallet = await _fund(hub, db, world, 100_000)
    client = await connect(hub, user_token(hub, world))
    try:
        hold = (
            await client.call(
                "hold:create",
                {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": "poor-1"},
            )
        )["data"]
        refused = await client.call("hold:pay", {"hold_id": hold["hold_id"]})
        assert refused["error"]["code"] == "insufficient_funds"
    finally:
        await client.close()
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
        status = await conn.fetchval(
            "SELECT status FROM holds WHERE id = $1", uuid.UUID(hold["hold_id"])
        )
    assert (account.balance, account.debits_pending) == (100_000, 0)
    assert status == "held"


async def test_a_payment_left_half_done_is_voided_by_the_sweeper_when_the_hold_expires(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=5, hold_ttl_secs=1)
    wallet = await _fund(hub, db, world, 200_000)
    client = await connect(hub, user_token(hub, world))
    try:
        hold = (
            await client.call(
                "hold:create",
                {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": "crash-1"},
            )
        )["data"]
    finally:
        await client.close()
    hold_id = uuid.UUID(hold["hold_id"])
    # As if the hub died right after reserving the money: the reservation and the record exist.
    async with db.acquire() as conn:
        payable = await ledger_db.ensure_account(
            conn, code="tenant_payable", currency="INR", tenant_id=world.tenant_id
        )
        await conn.execute(
            "INSERT INTO hold_payments (hold_id, tenant_id, user_id, wallet_id, amount_paise, "
            "pending_id, state, created_at) VALUES ($1, $2, $3, $4, 110000, $5, 'reserved', "
            "now() - interval '1 minute')",
            hold_id,
            world.tenant_id,
            world.user_ids[0],
            wallet,
            f"hold:{hold_id}",
        )
    await hub.app[keys.WALLETS].apply(
        (
            TransferSpec(
                f"hold:{hold_id}", wallet, payable, 110_000, pending=True, timeout_secs=3600
            ),
        )
    )
    for _ in range(100):
        async with db.acquire() as conn:
            status = await conn.fetchval("SELECT status FROM holds WHERE id = $1", hold_id)
        if status == "expired":
            break
        await asyncio.sleep(0.1)
    assert status == "expired"
    assert await hub.app[keys.HOLD_PAYMENTS].sweep() >= 1
    async with db.acquire() as conn:
        account = await ledger_db.get_account(conn, account_id=wallet)
        state = await conn.fetchval("SELECT state FROM hold_payments WHERE hold_id = $1", hold_id)
        report = await verify_ledger(conn)
    assert (account.balance, account.available, account.debits_pending) == (200_000, 200_000, 0)
    assert state == "voided"
    assert report["violations"] == 0
