"""The devotional platform's rules through a real hub: chadhava stock never oversold under
concurrency, a group puja's capacity counted per name, a yatra held on every day or none,
waiting-list offers in order and passed on after expiry, pandit earnings booked exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from hub.rest_devotional import EARNINGS
from tests.conftest import hub_settings, start_hub
from tests.devotional_support import PUJA_PRICE, YATRA_PRICE, book_puja, call, make_temple
from tests.support import (
    Hub,
    admin_token,
    connect,
    create_database,
    eventually,
    fund_wallet,
    make_user,
    staff_token,
    token_for,
    user_token,
)


@pytest.fixture(scope="module")
async def temple_db(migrated_dsn: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    # Its own database: the waiting-list and earnings loops, and the feed relay, of this
    # module's hub are the only ones looking at it.
    dsn = await create_database(migrated_dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
    yield dsn, pool
    await pool.close()


@pytest.fixture(scope="module")
async def temple_hub(temple_db: tuple[str, asyncpg.Pool], ray_session: None) -> AsyncIterator[Hub]:
    handle, runner = await start_hub(
        hub_settings(waitlist_offer_ttl_secs=2, waitlist_poll_secs=0.2, earnings_poll_secs=0.2),
        temple_db[0],
    )
    yield handle
    await runner.cleanup()


@pytest.fixture
def db(temple_db: tuple[str, asyncpg.Pool]) -> asyncpg.Pool:
    return temple_db[1]


async def _counts(db: asyncpg.Pool, slot_id: Any) -> tuple[int, int, int]:
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT capacity, held_qty, confirmed_qty FROM slots WHERE id = $1", slot_id
        )
    return row["capacity"], row["held_qty"], row["confirmed_qty"]


async def test_thirty_racing_bookings_never_oversell_a_chadhava_days_stock(
    temple_hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db, puja_capacity=60, chadhava_stock=5)
    token = user_token(temple_hub, temple.world)
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(
            *(book_puja(http, temple_hub, token, temple, ["Asha"], [(0, 1)]) for _ in range(30))
        )
    won = [body for status, body in answers if status == 201]
    lost = [body for status, body in answers if status != 201]
    assert len(won) == 5
    assert all(body["error"]["code"] == "sold_out" for body in lost), lost[:3]
    assert {s for s, _ in answers} == {201, 409}
    # The stock and the puja agree: every refused group gave its puja place back.
    assert await _counts(db, temple.chadhava_slot_ids[0]) == (5, 5, 0)
    assert await _counts(db, temple.puja_slot_id) == (60, 5, 0)
    async with db.acquire() as conn:
        groups = await conn.fetchval(
            "SELECT count(*) FROM hold_groups WHERE tenant_id = $1", temple.world.tenant_id
        )
    assert groups == 5


async def test_a_group_puja_takes_one_place_per_name_and_checks_each_sankalp(
    temple_hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db, puja_capacity=5)
    token = user_token(temple_hub, temple.world)
    url = f"{temple_hub.url}/api/v1/devotional/bookings"
    async with aiohttp.ClientSession() as http:
        status, first = await book_puja(http, temple_hub, token, temple, ["A", "B", "C"])
        assert status == 201, first
        assert first["holds"][0]["qty"] == 3 and first["amount_paise"] == 3 * PUJA_PRICE
        status, again = await book_puja(
            http, temple_hub, token, temple, ["A", "B", "C"], key=first["idempotency_key"]
        )
        assert status == 200 and again["group_id"] == first["group_id"]
        status, body = await book_puja(http, temple_hub, token, temple, ["D", "E", "F"])
        assert status == 409 and body["error"]["code"] == "sold_out", body
        assert body["error"]["details"]["available"] == 2
        # A missing gotra (required by this puja's booking_fields) holds nothing.
        status, body = await call(
            http,
            "POST",
            url,
            token,
            {
                "slot_id": str(temple.puja_slot_id),
                "participants": [{"name": "G", "nakshatra": "Rohini"}],
                "idempotency_key": uuid.uuid4().hex,
            },
        )
        assert status == 422 and body["error"]["code"] == "invalid", body
        status, body = await book_puja(http, temple_hub, token, temple, ["D", "E"])
        assert status == 201, body
    assert await _counts(db, temple.puja_slot_id) == (5, 5, 0)


async def test_a_yatra_is_held_on_every_day_or_on_none(temple_hub: Hub, db: asyncpg.Pool) -> None:
    temple = await make_temple(db, yatra_capacity=4, yatra_days=3)
    token = user_token(temple_hub, temple.world)
    url = f"{temple_hub.url}/api/v1/devotional/yatra-bookings"

    def body(start: int, days: int, qty: int) -> dict[str, Any]:
        return {
            "resource_id": str(temple.yatra_id),
            "start_date": (temple.day.fromordinal(temple.day.toordinal() + start)).isoformat(),
            "days": days,
            "qty": qty,
            "idempotency_key": uuid.uuid4().hex,
        }

    async with aiohttp.ClientSession() as http:
        status, full = await call(http, "POST", url, token, body(0, 3, 3))
        assert status == 201, full
        assert [h["role"] for h in full["holds"]] == ["day"] * 3
        assert full["amount_paise"] == 3 * 3 * YATRA_PRICE
        status, tail = await call(http, "POST", url, token, body(1, 2, 1))
        assert status == 201, tail
        # Days 2 and 3 are now full: a three-day booking of one place is refused whole.
        status, refused = await call(http, "POST", url, token, body(0, 3, 1))
        assert status == 409 and refused["error"]["code"] == "sold_out", refused
        status, missing = await call(http, "POST", url, token, body(2, 2, 1))
        assert status == 409 and missing["error"]["details"]["reason"] == "no_departure"
    assert [await _counts(db, s) for s in temple.yatra_slot_ids] == [
        (4, 3, 0),
        (4, 4, 0),
        (4, 4, 0),
    ]


async def test_waitlist_offers_the_first_waiter_then_the_next_when_the_offer_lapses(
    temple_hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db, puja_capacity=1, users=3)
    world = temple.world
    holder, first, second = (user_token(temple_hub, world, i) for i in range(3))
    slot = str(temple.puja_slot_id)
    waitlist = f"{temple_hub.url}/api/v1/slots/{slot}/waitlist"
    first_socket = await connect(temple_hub, first)
    second_socket = await connect(temple_hub, second)
    try:
        async with aiohttp.ClientSession() as http:
            status, body = await call(
                http, "POST", waitlist, first, {"qty": 1, "idempotency_key": "w1"}
            )
            assert status == 409 and body["error"]["details"]["reason"] == "places_available"
            status, held = await call(
                http,
                "POST",
                f"{temple_hub.url}/api/v1/holds",
                holder,
                {"slot_id": slot, "qty": 1, "idempotency_key": "h1"},
            )
            assert status == 201, held
            status, a = await call(
                http, "POST", waitlist, first, {"qty": 1, "idempotency_key": "w1"}
            )
            assert status == 201 and a["position"] == 1 and a["status"] == "waiting", a
            status, b = await call(
                http, "POST", waitlist, second, {"qty": 1, "idempotency_key": "w2"}
            )
            assert status == 201 and b["position"] == 2, b
            status, again = await call(
                http, "POST", waitlist, second, {"qty": 1, "idempotency_key": "w2"}
            )
            assert status == 200 and again["entry_id"] == b["entry_id"]

            # The holder lets go: the first waiter (only) is offered the place.
            status, _ = await call(
                http, "DELETE", f"{temple_hub.url}/api/v1/holds/{held['hold_id']}", holder
            )
            assert status == 200
            await eventually(lambda: bool(first_socket.received("waitlist:offer")))
            [offer] = first_socket.received("waitlist:offer")
            assert offer["entry_id"] == a["entry_id"] and offer["qty"] == 1
            assert not second_socket.received("waitlist:offer")
            assert await _counts(db, temple.puja_slot_id) == (1, 1, 0)

            # The offer's short hold lapses unpaid: the second waiter gets the place.
            await eventually(lambda: bool(second_socket.received("waitlist:offer")), within=15)
            [offer2] = second_socket.received("waitlist:offer")
            status, mine = await call(
                http, "GET", f"{temple_hub.url}/api/v1/waitlist/{a['entry_id']}", first
            )
            assert mine["status"] == "lapsed", mine
            # The second one pays the offered hold from the wallet: the entry is accepted.
            await fund_wallet(temple_hub, db, world, PUJA_PRICE, index=2)
            status, paid = await call(
                http,
                "POST",
                f"{temple_hub.url}/api/v1/holds/{offer2['hold_id']}/pay-from-wallet",
                second,
            )
            assert status == 200 and paid["status"] == "confirmed", paid

            async def accepted() -> bool:
                _, entry = await call(
                    http, "GET", f"{temple_hub.url}/api/v1/waitlist/{b['entry_id']}", second
                )
                return entry["status"] == "accepted"

            for _ in range(100):
                if await accepted():
                    break
                await asyncio.sleep(0.1)
            assert await accepted()
    finally:
        await first_socket.close()
        await second_socket.close()
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT offered_at, closed_at FROM waitlist_entries WHERE slot_id = $1 "
            "ORDER BY created_at",
            temple.puja_slot_id,
        )
    # Never two offers at once for one freed place: the second came after the first closed.
    assert rows[1]["offered_at"] >= rows[0]["closed_at"]
    assert await _counts(db, temple.puja_slot_id) == (1, 0, 1)


async def test_pandit_earnings_are_booked_once_minus_the_tenants_commission(
    temple_hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db)
    world = temple.world
    token = user_token(temple_hub, world)
    operator = await make_user(db, tenant_id=None, role="platform_admin")
    async with aiohttp.ClientSession() as http:
        status, body = await call(
            http,
            "PUT",
            f"{temple_hub.url}/api/v1/admin/tenants/{world.tenant_id}/commission",
            token_for(temple_hub, operator, None, "platform_admin"),
            {"commission_bp": 1250},
        )
        assert status == 200 and body["commission_bp"] == 1250, body
        await fund_wallet(temple_hub, db, world, 2 * PUJA_PRICE)
        status, group = await book_puja(http, temple_hub, token, temple, ["A", "B"])
        assert status == 201, group
        status, paid = await call(
            http,
            "POST",
            f"{temple_hub.url}/api/v1/devotional/bookings/{group['group_id']}/pay-from-wallet",
            token,
        )
        assert status == 200 and paid["status"] == "confirmed", paid
        booking = group["booking_id"]
        status, _ = await call(
            http,
            "PUT",
            f"{temple_hub.url}/api/v1/bookings/{booking}/assignee",
            await admin_token(temple_hub, db, world),
            {"staff_user_id": str(world.staff_id)},
        )
        assert status == 200
    pandit = await connect(temple_hub, staff_token(temple_hub, world))
    try:
        for step in ("started", "completed"):
            ack = await pandit.call("live:status", {"booking_id": booking, "status": step})
            assert ack["ok"], ack
    finally:
        await pandit.close()
    # Every hub's loop and three more rounds at once: still one credit.
    service = temple_hub.app[EARNINGS]
    await asyncio.gather(*(service.credit_completed() for _ in range(3)))
    async with db.acquire() as conn:

        async def posted() -> int:
            return await conn.fetchval(
                "SELECT count(*) FROM pandit_earnings WHERE booking_id = $1 "
                "AND posted_at IS NOT NULL",
                uuid.UUID(booking),
            )

        for _ in range(100):
            if await posted():
                break
            await asyncio.sleep(0.1)
        assert await posted() == 1
        transfers = await conn.fetch(
            "SELECT id, amount FROM ledger_transfers WHERE id LIKE $1 ORDER BY id",
            f"earnings:{booking}:%",
        )
    gross = 2 * PUJA_PRICE
    assert [(t["id"].rsplit(":", 1)[1], t["amount"]) for t in transfers] == [
        ("commission", gross * 1250 // 10_000),
        ("net", gross - gross * 1250 // 10_000),
    ]
    async with aiohttp.ClientSession() as http:
        status, mine = await call(
            http, "GET", f"{temple_hub.url}/api/v1/staff/earnings", staff_token(temple_hub, world)
        )
    assert status == 200, mine
    assert mine["balance_paise"] == gross - gross * 1250 // 10_000
    assert mine["bookings"] == 1 and mine["commission_bp"] == 1250
