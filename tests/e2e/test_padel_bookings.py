"""Padel bookings beyond the split itself: every confirmed court booking shows ``booked`` in the
venue room and a cancelled one ``free``; a cancelled split booking refunds each share to where
it came from (wallets and the Razorpay emulator); a hold is never paid both whole and in
shares, however the two race — against the real hub, PostgreSQL, Ray and the emulator."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from actors.commands import CancelBookingCommand
from hub import keys
from storage import ledger as ledger_db
from storage import split_refunds
from storage.bookings import CancellationDecision
from storage.ledger_verify import verify_ledger
from tests.e2e.test_padel_scenario import _balance, _get, _post, _razorpay
from tests.support import (
    Hub,
    World,
    admin_token,
    bearer,
    connect,
    eventually,
    fund_wallet,
    make_world,
    staff_token,
    user_token,
)

pytestmark = pytest.mark.timeout(120)

PRICE_PAISE = 200_001  # three shares of 66_667


async def _court_slots(
    hub: Hub, db: asyncpg.Pool, world: World, *, policy: list[dict[str, int]] | None = None
) -> tuple[str, list[str]]:
    """A court (with a cancellation policy) and its 90-minute slots on the world's day."""
    admin = await admin_token(hub, db, world)
    async with aiohttp.ClientSession(headers=bearer(admin)) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/catalog/resources",
            json={
                "kind": "court",
                "name": "Court 7",
                "price_paise": PRICE_PAISE,
                "capacity": 1,
                "cancellation_policy": policy or [],
            },
        )
        assert resp.status == 201, await resp.text()
        court = (await resp.json())["resource_id"]
        url = f"{hub.url}/api/v1/catalog/resources/{court}"
        schedule = {
            "from": world.date,
            "to": world.date,
            "special_days": {world.date: [{"start": "06:00", "end": "22:30", "every_mins": 90}]},
        }
        resp = await http.post(url + "/slots:generate", json=schedule)
        assert resp.status == 200, await resp.text()
        slots = (await (await http.get(url + "/slots", params={"from": world.date})).json())[
            "slots"
        ]
    return court, [s["slot_id"] for s in slots]


async def _hold(hub: Hub, world: World, slot_id: str, index: int = 0) -> str:
    client = await connect(hub, user_token(hub, world, index))
    try:
        ack = await client.call(
            "hold:create", {"slot_id": slot_id, "qty": 1, "idempotency_key": uuid.uuid4().hex}
        )
        assert ack["ok"], ack
        return str(ack["data"]["hold_id"])
    finally:
        await client.close()


async def _payable(db: asyncpg.Pool, world: World) -> int:
    async with db.acquire() as conn:
        account = await ledger_db.ensure_account(
            conn, code="tenant_payable", currency="INR", tenant_id=world.tenant_id
        )
        row = await conn.fetchrow(
            "SELECT credits_posted - debits_posted AS balance FROM ledger_accounts WHERE id = $1",
            account,
        )
    return int(row["balance"])


async def test_a_court_paid_whole_from_a_wallet_shows_booked_then_free_after_cancellation(
    hub: Hub, db: asyncpg.Pool
) -> None:
    world = await make_world(db, users=2)
    court, slots = await _court_slots(hub, db, world)
    await fund_wallet(hub, db, world, 300_000, 0)
    venue = await connect(hub, user_token(hub, world, 1))
    booker = await connect(hub, user_token(hub, world, 0))
    try:
        ack = await venue.call("venue:subscribe", {"tenant_id": str(world.tenant_id)})
        assert ack["ok"], ack
        seq = ack["data"]["seq"]
        held = await booker.call(
            "hold:create", {"slot_id": slots[0], "qty": 1, "idempotency_key": "court-1"}
        )
        assert held["ok"], held
        hold_id = held["data"]["hold_id"]
        paid = await booker.call("hold:pay", {"hold_id": hold_id})
        assert paid["ok"] and paid["data"]["status"] == "confirmed", paid
        await eventually(lambda: len(venue.received("court")) == 1)
        booked = venue.received("court")[0]
        assert (booked["court_id"], booked["slot_id"], booked["status"]) == (
            court,
            slots[0],
            "booked",
        )
        assert booked["seq"] == seq + 1
        # Paying again (a retry) confirms nothing new: no second event.
        again = await booker.call("hold:pay", {"hold_id": hold_id})
        assert again["ok"], again

        for _ in range(2):  # the second cancellation is a retry: nothing changes
            status, body = await _post(
                hub,
                user_token(hub, world, 0),
                f"/api/v1/bookings/{hold_id}/cancel",
                {"refund_to": "source"},
            )
            assert (status, body["status"]) == (200, "cancelled"), body
        await eventually(lambda: len(venue.received("court")) == 2)
        freed = venue.received("court")[1]
        assert (freed["court_id"], freed["slot_id"], freed["status"], freed["seq"]) == (
            court,
            slots[0],
            "free",
            seq + 2,
        )
        resumed = await venue.call(
            "venue:subscribe", {"tenant_id": str(world.tenant_id), "since": seq}
        )
        assert resumed["ok"] and resumed["data"]["seq"] == seq + 2, resumed
        snapshot = await booker.call("venue:subscribe", {"tenant_id": str(world.tenant_id)})
        assert [c["status"] for c in snapshot["data"]["snapshot"]["courts"]] == ["free"]
        await asyncio.sleep(0.3)
        assert len([c for c in venue.received("court") if c["seq"] > seq + 2]) == 0
    finally:
        await venue.close()
        await booker.close()


async def test_a_cancelled_split_booking_refunds_each_share_where_it_came_from(
    hub: Hub, db: asyncpg.Pool, gateway_emulators: Any
) -> None:
    world = await make_world(db, users=3)
    court, slots = await _court_slots(
        hub, db, world, policy=[{"hours_before": 1, "refund_percent": 50}]
    )
    await _razorpay(hub, db, gateway_emulators, world)
    for i in (0, 2):
        await fund_wallet(hub, db, world, 100_000, i)
    hold_id = await _hold(hub, world, slots[0])
    status, split = await _post(
        hub,
        user_token(hub, world, 0),
        f"/api/v1/holds/{hold_id}/split",
        {"player_user_ids": [str(u) for u in world.user_ids[1:3]], "idempotency_key": "s"},
    )
    assert status == 201, split
    assert [s["amount_paise"] for s in split["shares"]] == [66_667] * 3
    pay = f"/api/v1/holds/{hold_id}/split/pay"
    status, _ = await _post(
        hub, user_token(hub, world, 0), pay, {"method": "wallet", "idempotency_key": "p0"}
    )
    assert status == 200
    status, answer = await _post(
        hub, user_token(hub, world, 1), pay, {"method": "gateway", "idempotency_key": "p1"}
    )
    assert status == 200, answer
    payment = answer["payment"]
    order = payment["checkout"]["razorpay"]["order_id"]
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.post(f"{gateway_emulators.url('razorpay')}/_emulator/orders/{order}/pay", json={}),
    ):
        pass

    async def gateway_share_paid() -> bool:
        _, view = await _get(hub, user_token(hub, world, 1), f"/api/v1/holds/{hold_id}/split")
        return bool(view["shares"][1]["status"] == "paid")

    for _ in range(100):
        if await gateway_share_paid():
            break
        await asyncio.sleep(0.1)
    assert await gateway_share_paid()
    status, paid = await _post(
        hub, user_token(hub, world, 2), pay, {"method": "wallet", "idempotency_key": "p2"}
    )
    assert status == 200 and paid["split"]["status"] == "confirmed", paid
    fee = payment["fee_paise"]
    assert await _payable(db, world) == PRICE_PAISE - fee

    venue = await connect(hub, staff_token(hub, world))
    try:
        ack = await venue.call("venue:subscribe", {"tenant_id": str(world.tenant_id)})
        assert [c["status"] for c in ack["data"]["snapshot"]["courts"]] == ["booked"], ack
        # The booker cancels; a retry at the same time and one after refund nothing twice.
        path = f"/api/v1/bookings/{hold_id}/cancel"
        answers = await asyncio.gather(
            *(_post(hub, user_token(hub, world, 0), path, {"refund_to": "source"}) for _ in "ab")
        )
        answers.append(await _post(hub, staff_token(hub, world), path, {"refund_to": "wallet"}))
        for status, body in answers:
            assert status == 200, body
            assert (body["refund_percent"], body["refund_paise"], body["refunded_to"]) == (
                50,
                3 * 33_333,
                "source",
            )
            assert [
                (s["user_id"], s["refund_paise"], s["refunded_to"]) for s in body["shares"]
            ] == [
                (str(world.user_ids[0]), 33_333, "wallet"),
                (str(world.user_ids[1]), 33_333, "gateway"),
                (str(world.user_ids[2]), 33_333, "wallet"),
            ]
        await eventually(lambda: any(c["status"] == "free" for c in venue.received("court")))
        assert [(c["court_id"], c["slot_id"]) for c in venue.received("court")] == [
            (court, slots[0])
        ]
    finally:
        await venue.close()

    assert [await _balance(hub, db, world, i) for i in (0, 2)] == [66_666, 66_666]
    status, view = await _get(
        hub, user_token(hub, world, 1), f"/api/v1/payments/{payment['payment_id']}"
    )
    assert status == 200
    assert [(r["amount_paise"], r["status"]) for r in view["refunds"]] == [(33_333, "processed")]
    _, split_view = await _get(hub, user_token(hub, world, 2), f"/api/v1/holds/{hold_id}/split")
    assert [s["status"] for s in split_view["shares"]] == ["refunded"] * 3
    # The tenant keeps half of each share, less the gateway's fee on the card share.
    assert await _payable(db, world) == PRICE_PAISE - fee - 3 * 33_333
    async with db.acquire() as conn:
        transfers = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id LIKE $1", f"cancel:{hold_id}:%"
        )
        assert transfers == 2
        notices = await conn.fetchval(
            "SELECT count(*) FROM outbox_events WHERE type = 'refund_processed' "
            "AND dedupe_key LIKE $1",
            f"split_cancel_refund:{hold_id}:%",
        )
        assert notices == 3
        assert (await verify_ledger(conn))["violations"] == 0


async def test_paying_whole_and_in_shares_at_once_never_both_take_the_hold(
    hub: Hub, db: asyncpg.Pool, gateway_emulators: Any
) -> None:
    """``hold:pay`` from the wallet, a gateway intent for the whole hold and a split of it,
    sent at once for each of the court's holds: the split wins alone or loses."""
    world = await make_world(db, users=2)
    _, slots = await _court_slots(hub, db, world)
    await _razorpay(hub, db, gateway_emulators, world)
    await fund_wallet(hub, db, world, PRICE_PAISE * len(slots), 0)
    holds = [await _hold(hub, world, slot) for slot in slots]
    booker = user_token(hub, world, 0)

    async def intent(hold_id: str) -> int:
        async with (
            aiohttp.ClientSession(headers={**bearer(booker), "Idempotency-Key": hold_id}) as http,
            http.post(
                f"{hub.url}/api/v1/payments/intents",
                json={"purpose": "hold", "ref": hold_id, "amount_paise": PRICE_PAISE},
            ) as resp,
        ):
            return resp.status

    async def race(hold_id: str) -> tuple[int, int, int]:
        whole, card, split = await asyncio.gather(
            _post(hub, booker, f"/api/v1/holds/{hold_id}/pay-from-wallet", {}),
            intent(hold_id),
            _post(
                hub,
                booker,
                f"/api/v1/holds/{hold_id}/split",
                {"player_user_ids": [str(world.user_ids[1])], "idempotency_key": "s"},
            ),
        )
        return whole[0], card, split[0]

    outcomes = await asyncio.gather(*(race(h) for h in holds))
    for whole, card, split in outcomes:
        assert whole in (200, 409) and card in (201, 409) and split in (201, 409), outcomes
        assert (split == 201) != (whole == 200 or card == 201), outcomes
    ids = [UUID(h) for h in holds]
    async with db.acquire() as conn:
        both = await conn.fetchval(
            """
            SELECT count(*) FROM split_payments s
            WHERE s.hold_id = ANY($1::uuid[]) AND (
                EXISTS (SELECT 1 FROM hold_payments p WHERE p.hold_id = s.hold_id
                        AND p.state <> 'voided')
                OR EXISTS (SELECT 1 FROM payment_intents i WHERE i.hold_id = s.hold_id
                           AND i.status <> 'failed'))
            """,
            ids,
        )
        assert both == 0
        whole_paid = await conn.fetchval(
            "SELECT count(*) FROM hold_payments WHERE hold_id = ANY($1::uuid[]) AND state = 'done'",
            ids,
        )
        assert whole_paid == sum(1 for whole, _, _ in outcomes if whole == 200)
        assert (await verify_ledger(conn))["violations"] == 0


async def test_refunds_a_crash_left_undone_after_a_split_cancellation_are_finished(
    hub: Hub, db: asyncpg.Pool
) -> None:
    world = await make_world(db, users=2)
    _, slots = await _court_slots(
        hub, db, world, policy=[{"hours_before": 1, "refund_percent": 100}]
    )
    for i in (0, 1):
        await fund_wallet(hub, db, world, 150_000, i)
    hold_id = await _hold(hub, world, slots[0])
    status, split = await _post(
        hub,
        user_token(hub, world, 0),
        f"/api/v1/holds/{hold_id}/split",
        {"player_user_ids": [str(world.user_ids[1])], "idempotency_key": "s"},
    )
    assert status == 201, split
    for i in (0, 1):
        status, paid = await _post(
            hub,
            user_token(hub, world, i),
            f"/api/v1/holds/{hold_id}/split/pay",
            {"method": "wallet", "idempotency_key": f"p{i}"},
        )
        assert status == 200, paid
    assert paid["split"]["status"] == "confirmed"
    # The hub cancels and decides, then dies before refunding anyone.
    await hub.app[keys.SHARDS].execute(
        CancelBookingCommand(
            tenant_id=world.tenant_id,
            user_id=world.user_ids[0],
            hold_id=UUID(hold_id),
            may_cancel_any=False,
        )
    )
    shares = [100_001, 100_000]
    async with db.acquire() as conn:
        _, made = await split_refunds.decide(
            conn,
            tenant_id=world.tenant_id,
            hold_id=UUID(hold_id),
            decision=CancellationDecision(100, PRICE_PAISE, "source"),
            refunds=[
                split_refunds.ShareRefund(world.user_ids[i], shares[i], "wallet", None)
                for i in (0, 1)
            ],
        )
    assert made
    assert [await _balance(hub, db, world, i) for i in (0, 1)] == [49_999, 50_000]

    async def refunded() -> bool:
        _, view = await _get(hub, user_token(hub, world, 1), f"/api/v1/holds/{hold_id}/split")
        return [s["status"] for s in view["shares"]] == ["refunded", "refunded"]

    for _ in range(150):
        if await refunded():
            break
        await asyncio.sleep(0.1)
    assert await refunded()
    assert [await _balance(hub, db, world, i) for i in (0, 1)] == [150_000, 150_000]
    # The booker's retry answers the same and pays nothing again.
    status, body = await _post(
        hub,
        user_token(hub, world, 0),
        f"/api/v1/bookings/{hold_id}/cancel",
        {"refund_to": "source"},
    )
    assert (status, body["refund_paise"]) == (200, PRICE_PAISE), body
    assert [await _balance(hub, db, world, i) for i in (0, 1)] == [150_000, 150_000]
    assert await _payable(db, world) == 0
    async with db.acquire() as conn:
        assert (await verify_ledger(conn))["violations"] == 0
