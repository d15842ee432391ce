"""Padel venues end to end: courts with peak prices, split payments (wallet and Razorpay
emulator), the venue room, expiry refunds, open matches — against the real hub, PostgreSQL,
Ray and the gateway emulator."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from storage import ledger as ledger_db
from storage.ledger_verify import verify_ledger
from tests.support import (
    Hub,
    World,
    admin_token,
    bearer,
    configure_gateways,
    connect,
    eventually,
    fund_wallet,
    make_world,
    staff_token,
    user_token,
)

pytestmark = pytest.mark.timeout(120)

PEAK_PAISE = 200_001  # odd on purpose: 4 shares of 50_000 and the booker's 50_001
OFF_PEAK_PAISE = 120_000


async def _courts(hub: Hub, db: asyncpg.Pool, world: World) -> tuple[str, dict[str, Any]]:
    """A court with 90-minute slots on the world's day: off-peak 06:00-18:00, peak 18:00-22:30
    at a higher price. Returns the court id and its peak 18:00 slot."""
    admin = await admin_token(hub, db, world)
    async with aiohttp.ClientSession(headers=bearer(admin)) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/catalog/resources",
            json={"kind": "court", "name": "Court 1", "price_paise": OFF_PEAK_PAISE, "capacity": 1},
        )
        assert resp.status == 201, await resp.text()
        court = (await resp.json())["resource_id"]
        url = f"{hub.url}/api/v1/catalog/resources/{court}"
        schedule = {
            "from": world.date,
            "to": world.date,
            "special_days": {
                world.date: [
                    {"start": "06:00", "end": "18:00", "every_mins": 90},
                    {"start": "18:00", "end": "22:30", "every_mins": 90, "price_paise": PEAK_PAISE},
                ]
            },
        }
        resp = await http.post(url + "/slots:generate", json=schedule)
        assert resp.status == 200, await resp.text()
        slots = (await (await http.get(url + "/slots", params={"from": world.date})).json())[
            "slots"
        ]
    peak = next(s for s in slots if s["starts_at"].startswith(f"{world.date}T18:00"))
    return court, peak


async def _razorpay(hub: Hub, db: asyncpg.Pool, emulators: Any, world: World) -> None:
    await configure_gateways(hub, db, emulators, world.tenant_id, gateways=("razorpay",))


async def _hold(hub: Hub, world: World, slot_id: str) -> str:
    client = await connect(hub, user_token(hub, world, 0))
    try:
        ack = await client.call(
            "hold:create", {"slot_id": slot_id, "qty": 1, "idempotency_key": uuid.uuid4().hex}
        )
        assert ack["ok"], ack
        return str(ack["data"]["hold_id"])
    finally:
        await client.close()


async def _post(hub: Hub, token: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=bearer(token)) as http,
        http.post(f"{hub.url}{path}", json=body) as resp,
    ):
        return resp.status, await resp.json()


async def _get(hub: Hub, token: str, path: str, **params: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=bearer(token)) as http,
        http.get(f"{hub.url}{path}", params=params) as resp,
    ):
        return resp.status, await resp.json()


async def _split(hub: Hub, world: World, hold_id: str, players: int = 3) -> dict[str, Any]:
    status, body = await _post(
        hub,
        user_token(hub, world, 0),
        f"/api/v1/holds/{hold_id}/split",
        {
            "player_user_ids": [str(u) for u in world.user_ids[1 : players + 1]],
            "idempotency_key": f"split-{hold_id}",
        },
    )
    assert status == 201, body
    return dict(body)


async def _pay(hub: Hub, world: World, index: int, hold_id: str, method: str = "wallet") -> Any:
    return await _post(
        hub,
        user_token(hub, world, index),
        f"/api/v1/holds/{hold_id}/split/pay",
        {"method": method, "idempotency_key": f"pay-{index}"},
    )


async def _balance(hub: Hub, db: asyncpg.Pool, world: World, index: int) -> int:
    async with db.acquire() as conn:
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=world.tenant_id,
            owner_user_id=world.user_ids[index],
            limited=True,
        )
        row = await conn.fetchrow(
            "SELECT credits_posted - debits_posted - debits_pending AS available "
            "FROM ledger_accounts WHERE id = $1",
            wallet,
        )
    return int(row["available"])


async def _split_status(db: asyncpg.Pool, hold_id: str) -> str:
    async with db.acquire() as conn:
        return str(
            await conn.fetchval(
                "SELECT status FROM split_payments WHERE hold_id = $1", UUID(hold_id)
            )
        )


async def _wait_split(db: asyncpg.Pool, hold_id: str, status: str, within: float = 20) -> None:
    for _ in range(int(within * 10)):
        if await _split_status(db, hold_id) == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"split never became {status}: {await _split_status(db, hold_id)}")


async def test_four_friends_split_a_peak_court_and_the_venue_sees_it_booked(
    hub: Hub, db: asyncpg.Pool, gateway_emulators: Any
) -> None:
    world = await make_world(db, users=4)
    court, peak = await _courts(hub, db, world)
    assert peak["price_paise"] == PEAK_PAISE
    ends = datetime.fromisoformat(peak["ends_at"]) - datetime.fromisoformat(peak["starts_at"])
    assert ends == timedelta(minutes=90)
    await _razorpay(hub, db, gateway_emulators, world)
    for i in (0, 1, 3):
        await fund_wallet(hub, db, world, 60_000, i)
    venue = await connect(hub, user_token(hub, world, 3))
    friend = await connect(hub, user_token(hub, world, 1))
    try:
        ack = await venue.call("venue:subscribe", {"tenant_id": str(world.tenant_id)})
        assert ack["ok"], ack
        courts = ack["data"]["snapshot"]["courts"]
        assert [(c["court_id"], c["status"]) for c in courts] == [(court, "free")]

        hold_id = await _hold(hub, world, peak["slot_id"])
        split = await _split(hub, world, hold_id)
        assert [s["amount_paise"] for s in split["shares"]] == [50_001, 50_000, 50_000, 50_000]
        assert sum(s["amount_paise"] for s in split["shares"]) == PEAK_PAISE

        # Two pay from their wallets, the third at Razorpay (the emulator), the fourth last.
        status, paid = await _pay(hub, world, 0, hold_id)
        assert status == 200 and paid["split"]["status"] == "open", paid
        status, _ = await _pay(hub, world, 1, hold_id)
        assert status == 200
        status, answer = await _pay(hub, world, 2, hold_id, "gateway")
        assert status == 200, answer
        payment = answer["payment"]
        assert payment["purpose"] == "split_share" and payment["amount_paise"] == 50_000
        order = payment["checkout"]["razorpay"]["order_id"]
        async with (
            aiohttp.ClientSession(raise_for_status=True) as http,
            http.post(f"{gateway_emulators.url('razorpay')}/_emulator/orders/{order}/pay", json={}),
        ):
            pass

        async def gateway_share_paid() -> bool:
            _, view = await _get(hub, user_token(hub, world, 2), f"/api/v1/holds/{hold_id}/split")
            return bool(view["shares"][2]["status"] == "paid")

        for _ in range(100):
            if await gateway_share_paid():
                break
            await asyncio.sleep(0.1)
        assert await gateway_share_paid()
        status, paid = await _pay(hub, world, 3, hold_id)
        assert status == 200 and paid["split"]["status"] == "confirmed", paid
        assert {s["status"] for s in paid["split"]["shares"]} == {"settled"}

        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT status FROM holds WHERE id = $1", UUID(hold_id)) == (
                "confirmed"
            )
            members = await conn.fetch(
                "SELECT user_id FROM booking_members WHERE hold_id = $1", UUID(hold_id)
            )
            assert {r["user_id"] for r in members} == set(world.user_ids[1:4])
            outcome = await conn.fetchval(
                "SELECT outcome FROM payment_intents WHERE id = $1", UUID(payment["payment_id"])
            )
            assert outcome == "booking_confirmed"
        assert [await _balance(hub, db, world, i) for i in (0, 1, 3)] == [9_999, 10_000, 10_000]

        await eventually(lambda: any(c["status"] == "booked" for c in venue.received("court")))
        booked = next(c for c in venue.received("court") if c["status"] == "booked")
        assert (booked["court_id"], booked["slot_id"]) == (court, peak["slot_id"])
        await eventually(
            lambda: any(u["status"] == "confirmed" for u in friend.received("split:updated"))
        )

        # Staff put the court in play; subscribers see it.
        staff = await connect(hub, staff_token(hub, world))
        try:
            ack = await staff.call("court:status", {"court_id": court, "status": "in_play"})
            assert ack["ok"] and ack["data"]["status"] == "in_play", ack
            refused = await friend.call("court:status", {"court_id": court, "status": "free"})
            assert refused["error"]["code"] == "forbidden"
        finally:
            await staff.close()
        await eventually(lambda: venue.received("court")[-1]["status"] == "in_play")
    finally:
        await venue.close()
        await friend.close()
    async with db.acquire() as conn:
        assert (await verify_ledger(conn))["violations"] == 0


async def test_an_unfinished_split_is_refunded_when_the_hold_expires(
    hub: Hub, db: asyncpg.Pool
) -> None:
    world = await make_world(db, users=4, hold_ttl_secs=3)
    _, peak = await _courts(hub, db, world)
    for i in range(4):
        await fund_wallet(hub, db, world, 60_000, i)
    hold_id = await _hold(hub, world, peak["slot_id"])
    await _split(hub, world, hold_id)
    for i in (0, 1):
        status, _ = await _pay(hub, world, i, hold_id)
        assert status == 200
    assert await _balance(hub, db, world, 1) == 10_000
    await _wait_split(db, hold_id, "cancelled")
    assert [await _balance(hub, db, world, i) for i in range(4)] == [60_000] * 4
    status, late = await _pay(hub, world, 2, hold_id)
    assert (status, late["error"]["code"]) == (409, "conflict")
    assert await _balance(hub, db, world, 2) == 60_000
    _, view = await _get(hub, user_token(hub, world, 1), f"/api/v1/holds/{hold_id}/split")
    assert [s["status"] for s in view["shares"]] == ["refunded", "refunded", "pending", "pending"]
    async with db.acquire() as conn:
        assert (await verify_ledger(conn))["violations"] == 0


async def test_all_four_shares_paying_at_once_confirm_the_booking_once(
    hub: Hub, db: asyncpg.Pool
) -> None:
    world = await make_world(db, users=4)
    _, peak = await _courts(hub, db, world)
    for i in range(4):
        await fund_wallet(hub, db, world, 60_000, i)
    hold_id = await _hold(hub, world, peak["slot_id"])
    await _split(hub, world, hold_id)
    # Each player sends their payment twice at once (a retry racing the first try).
    answers = await asyncio.gather(*(_pay(hub, world, i % 4, hold_id) for i in range(8)))
    assert {status for status, _ in answers} == {200}, answers
    await _wait_split(db, hold_id, "confirmed")
    assert [await _balance(hub, db, world, i) for i in range(4)] == [9_999, 10_000, 10_000, 10_000]
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT confirmed_qty FROM slots WHERE id = $1", UUID(peak["slot_id"])
            )
            == 1
        )
        posted = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id LIKE $1", f"split:{hold_id}:%:post"
        )
        assert posted == 4
        assert (await verify_ledger(conn))["violations"] == 0


async def test_a_share_paying_just_as_the_hold_expires_loses_no_rupee(
    hub: Hub, db: asyncpg.Pool
) -> None:
    world = await make_world(db, users=4, hold_ttl_secs=2)
    _, peak = await _courts(hub, db, world)
    for i in range(4):
        await fund_wallet(hub, db, world, 60_000, i)
    hold_id = await _hold(hub, world, peak["slot_id"])
    await _split(hub, world, hold_id)
    for i in range(3):
        assert (await _pay(hub, world, i, hold_id))[0] == 200
    async with db.acquire() as conn:
        expires = await conn.fetchval("SELECT expires_at FROM holds WHERE id = $1", UUID(hold_id))
    await asyncio.sleep(max((expires - datetime.now(UTC)).total_seconds() - 0.05, 0))
    last = await asyncio.gather(*(_pay(hub, world, 3, hold_id) for _ in range(3)))
    for _ in range(200):
        final = await _split_status(db, hold_id)
        if final in ("confirmed", "cancelled"):
            break
        await asyncio.sleep(0.1)
    balances = [await _balance(hub, db, world, i) for i in range(4)]
    async with db.acquire() as conn:
        hold = await conn.fetchval("SELECT status FROM holds WHERE id = $1", UUID(hold_id))
        assert (await verify_ledger(conn))["violations"] == 0
    if final == "confirmed":
        assert hold == "confirmed"
        assert balances == [9_999, 10_000, 10_000, 10_000]
    else:
        assert final == "cancelled", (final, last)
        assert hold in ("expired", "held")
        assert balances == [60_000] * 4


async def test_an_open_match_fills_up_and_never_takes_more_players_than_spots(
    hub: Hub, db: asyncpg.Pool
) -> None:
    world = await make_world(db, users=8)
    court, peak = await _courts(hub, db, world)
    for i in range(2):
        await fund_wallet(hub, db, world, 120_000, i)
    hold_id = await _hold(hub, world, peak["slot_id"])
    await _split(hub, world, hold_id, players=1)
    for i in (0, 1):
        assert (await _pay(hub, world, i, hold_id))[0] == 200
    await _wait_split(db, hold_id, "confirmed")
    booker = user_token(hub, world, 0)
    body = {"spots": 2, "level": "intermediate", "share_paise": 50_000}
    status, match = await _post(hub, booker, f"/api/v1/bookings/{hold_id}/open-match", body)
    assert status == 201 and match["spots_left"] == 2, match
    again = await _post(hub, booker, f"/api/v1/bookings/{hold_id}/open-match", body)
    assert again[0] == 200 and again[1]["match_id"] == match["match_id"]

    status, listed = await _get(
        hub, user_token(hub, world, 5), "/api/v1/open-matches", date=world.date
    )
    assert status == 200
    assert [(m["match_id"], m["court_id"]) for m in listed["matches"]] == [
        (match["match_id"], court)
    ]
    joins = await asyncio.gather(
        *(
            _post(
                hub,
                user_token(hub, world, i),
                f"/api/v1/open-matches/{match['match_id']}/join",
                {"idempotency_key": f"join-{i}"},
            )
            for i in range(2, 8)
        )
    )
    won = [body for status, body in joins if status == 201]
    refused = [body for status, body in joins if status != 201]
    assert len(won) == 2, joins
    assert {b["error"]["details"]["reason"] for b in refused} == {"full"}
    # The booker's split partner already plays.
    status, body = await _post(
        hub,
        user_token(hub, world, 1),
        f"/api/v1/open-matches/{match['match_id']}/join",
        {"idempotency_key": "x"},
    )
    assert (status, body["error"]["details"]["reason"]) == (409, "already_playing")
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT joined FROM open_matches WHERE id = $1", UUID(match["match_id"])
            )
            == 2
        )
        members = await conn.fetchval(
            "SELECT count(*) FROM booking_members WHERE hold_id = $1", UUID(hold_id)
        )
        assert members == 3  # the split partner and the two who joined


async def test_split_refuses_bad_input_and_strangers(hub: Hub, db: asyncpg.Pool) -> None:
    world = await make_world(db, users=3)
    other = await make_world(db, users=1)
    _, peak = await _courts(hub, db, world)
    hold_id = await _hold(hub, world, peak["slot_id"])
    booker = user_token(hub, world, 0)
    path = f"/api/v1/holds/{hold_id}/split"
    for body, code in [
        ({"idempotency_key": "k"}, "invalid"),
        (
            {"player_user_ids": [str(u) for u in world.user_ids[1:]] * 2, "idempotency_key": "k"},
            "invalid",
        ),
        ({"player_user_ids": [str(other.user_ids[0])], "idempotency_key": "k"}, "not_found"),
        ({"player_user_ids": [str(world.user_ids[0])], "idempotency_key": "k"}, "invalid"),
        ({"phones": ["12"], "idempotency_key": "k"}, "invalid"),
    ]:
        status, answer = await _post(hub, booker, path, body)
        assert answer["error"]["code"] == code, (body, answer)
        assert status in (404, 422)
    status, answer = await _post(
        hub,
        user_token(hub, world, 1),
        path,
        {"player_user_ids": [str(world.user_ids[2])], "idempotency_key": "k"},
    )
    assert (status, answer["error"]["code"]) == (404, "not_found")
    status, _ = await _post(
        hub, booker, path, {"player_user_ids": [str(world.user_ids[1])], "idempotency_key": "k"}
    )
    assert status == 201
    status, answer = await _post(
        hub, booker, path, {"player_user_ids": [str(world.user_ids[2])], "idempotency_key": "k2"}
    )
    assert (status, answer["error"]["details"]["reason"]) == (
        409,
        "exists_with_different_fields",
    )
    status, answer = await _get(hub, user_token(hub, world, 2), path)
    assert status == 404
    # The whole hold cannot be paid from a wallet as well.
    await fund_wallet(hub, db, world, 300_000, 0)
    client = await connect(hub, booker)
    try:
        ack = await client.call("hold:pay", {"hold_id": hold_id})
        assert ack["error"]["code"] == "conflict", ack
    finally:
        await client.close()
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM split_payments WHERE hold_id = $1", UUID(hold_id)
            )
            == 1
        )
