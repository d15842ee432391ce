"""The astrology platform's story through a real hub: a client books a consultation and gets
its meeting link with the confirmation, reschedules once free and once for a fee, orders a
kundli with the intake form (a bad birth time refused), gets the admin's PDF in-app, and
completes the remedy their astrologer assigned; plus focused checks of the edges."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from hub import keys
from storage import ledger as ledger_db
from tests.conftest import hub_settings, start_hub
from tests.support import (
    Client,
    Hub,
    World,
    admin_token,
    bearer,
    confirmed_booking,
    connect,
    create_database,
    eventually,
    fund_wallet,
    make_world,
    staff_token,
    user_token,
)

PDF = b"%PDF-1.4\n" + os.urandom(1024) + b"\n%%EOF\n"
FEE_PAISE = 5_000
KUNDLI_PRICE = 50_000
KUNDLI_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "birth_date": {"type": "string", "format": "date"},
        "birth_time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "birth_place": {"type": "string", "minLength": 2},
    },
    "required": ["name", "birth_date", "birth_time", "birth_place"],
    "additionalProperties": False,
}
INTAKE = {
    "name": "Asha",
    "birth_date": "1990-04-12",
    "birth_time": "06:45",
    "birth_place": "Varanasi",
}


@pytest.fixture(scope="module")
async def astro(
    migrated_dsn: str, ray_session: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Hub, asyncpg.Pool]]:
    # A database of its own (its relay publishes to this hub's sockets) and a short reminder
    # poll, so a remedy reminder made due arrives quickly.
    dsn = await create_database(migrated_dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5)
    handle, runner = await start_hub(
        hub_settings(files_dir=tmp_path_factory.mktemp("files"), reminder_poll_secs=0.2), dsn
    )
    yield handle, pool
    await runner.cleanup()
    await pool.close()


async def _consultation_world(db: asyncpg.Pool, **kwargs: Any) -> World:
    """A world whose resource is an astrologer's consultation, with the world's staff member
    assigned to it."""
    world = await make_world(db, capacity=1, slots=3, **kwargs)
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE resources SET kind = 'consultation', name = 'Kundli consultation' "
            "WHERE id = $1",
            world.resource_id,
        )
        await conn.execute(
            "INSERT INTO staff_assignments (tenant_id, user_id, resource_id) VALUES ($1, $2, $3)",
            world.tenant_id,
            world.staff_id,
            world.resource_id,
        )
    return world


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, json=body, headers=bearer(token)) as resp:
        return resp.status, await resp.json()


async def _balance(db: asyncpg.Pool, world: World, index: int = 0) -> int:
    async with db.acquire() as conn:
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=world.tenant_id,
            owner_user_id=world.user_ids[index],
            limited=True,
        )
        return await conn.fetchval(
            "SELECT credits_posted - debits_posted FROM ledger_accounts WHERE id = $1", wallet
        )


async def _slot_of(db: asyncpg.Pool, booking: str) -> UUID:
    async with db.acquire() as conn:
        return await conn.fetchval("SELECT slot_id FROM holds WHERE id = $1", UUID(booking))


def _notes(client: Client, kind: str) -> list[dict[str, Any]]:
    return [n for n in client.received("notification") if n["type"] == kind]


async def test_a_client_books_reschedules_orders_a_kundli_and_completes_a_remedy(
    astro: tuple[Hub, asyncpg.Pool],
):
    hub, db = astro
    world = await _consultation_world(db)
    admin = await admin_token(hub, db, world)
    client_token = user_token(hub, world)
    base = f"{hub.url}/api/v1"
    client = await connect(hub, client_token)
    async with aiohttp.ClientSession() as http:
        # The tenant's policy: the first reschedule is free, each later one costs ₹50.
        status, policy = await _call(
            http,
            "PUT",
            f"{base}/consultation-settings",
            admin,
            {"reschedule_fee_paise": FEE_PAISE, "free_reschedules": 1},
        )
        assert status == 200 and policy["reschedule_fee_paise"] == FEE_PAISE, policy

        # 1. The client books a consultation; the confirmation carries the meeting link.
        booking = await confirmed_booking(hub, db, world)
        await eventually(lambda: bool(_notes(client, "booking_confirmed")))
        (confirmed,) = _notes(client, "booking_confirmed")
        meeting_url = confirmed["data"]["meeting_url"]
        assert meeting_url.startswith("https://meet.jit.si/seva-")
        assert len(meeting_url.rsplit("-", 1)[1]) == 32  # 128 random bits
        status, meeting = await _call(http, "GET", f"{base}/bookings/{booking}/meeting", admin)
        assert status == 200 and meeting["url"] == meeting_url and meeting["provider"] == "jitsi"
        status, seen = await _call(http, "GET", f"{base}/bookings/{booking}/meeting", client_token)
        assert status == 200 and seen["url"] == meeting_url

        # Reminders 24 h and 1 h before the consultation.
        async with db.acquire() as conn:
            reminders = await conn.fetch(
                "SELECT data->>'before_mins' AS mins FROM scheduled_messages "
                "WHERE booking_id = $1 AND status = 'scheduled' ORDER BY due_at",
                UUID(booking),
            )
        assert [r["mins"] for r in reminders] == ["1440", "60"]

        # 2. The first reschedule is free, the second costs the fee (charged once on retry).
        await fund_wallet(hub, db, world, FEE_PAISE + KUNDLI_PRICE)
        before = await _balance(db, world)
        move = {"slot_id": str(world.slot_ids[1]), "idempotency_key": "move-1"}
        status, first = await _call(
            http, "POST", f"{base}/bookings/{booking}/reschedule", client_token, move
        )
        assert status == 200 and first["fee_paise"] == 0, first
        assert await _balance(db, world) == before
        move = {"slot_id": str(world.slot_ids[2]), "idempotency_key": "move-2"}
        for _ in range(2):
            status, second = await _call(
                http, "POST", f"{base}/bookings/{booking}/reschedule", client_token, move
            )
            assert status == 200 and second["fee_paise"] == FEE_PAISE, second
            assert second["from_slot_id"] == str(world.slot_ids[1])
        assert await _balance(db, world) == before - FEE_PAISE
        assert await _slot_of(db, booking) == world.slot_ids[2]
        await eventually(lambda: len(_notes(client, "booking_rescheduled")) == 2)
        status, meeting = await _call(http, "GET", f"{base}/bookings/{booking}/meeting", admin)
        assert meeting["url"] == meeting_url  # the room stays with the booking

        # 3. A kundli ordered with the intake form: a bad birth time is refused clearly.
        product_id = str(uuid.uuid4())
        status, product = await _call(
            http,
            "PUT",
            f"{base}/report-products/{product_id}",
            admin,
            {"name": "Kundli", "price_paise": KUNDLI_PRICE, "intake_schema": KUNDLI_SCHEMA},
        )
        assert status == 201, product
        status, products = await _call(http, "GET", f"{base}/report-products", client_token)
        assert status == 200 and products["products"] == [product], products
        status, refused = await _call(
            http,
            "POST",
            f"{base}/report-orders",
            client_token,
            {
                "product_id": product_id,
                "intake": {**INTAKE, "birth_time": "25:61"},
                "idempotency_key": "kundli-bad",
            },
        )
        assert status == 422 and refused["error"]["code"] == "invalid", refused
        assert [d["loc"] for d in refused["error"]["details"]] == [["intake", "birth_time"]]
        assert "25:61" not in str(refused)  # the client's value is not echoed
        order_body = {"product_id": product_id, "intake": INTAKE, "idempotency_key": "kundli-1"}
        status, order = await _call(http, "POST", f"{base}/report-orders", client_token, order_body)
        assert status == 201 and order["status"] == "paid", order
        status, again = await _call(http, "POST", f"{base}/report-orders", client_token, order_body)
        assert status == 200 and again["order_id"] == order["order_id"]
        assert await _balance(db, world) == before - FEE_PAISE - KUNDLI_PRICE

        # 4. The admin uploads the PDF; the client gets it in-app with a working link.
        order_url = f"{base}/report-orders/{order['order_id']}"
        status, upload = await _call(
            http,
            "POST",
            f"{order_url}/uploads",
            admin,
            {
                "filename": "kundli-asha.pdf",
                "content_type": "application/pdf",
                "size_bytes": len(PDF),
            },
        )
        assert status == 201, upload
        path = upload["url"].split("/api/v1/files/", 1)[1]
        async with http.put(
            f"{hub.url}/api/v1/files/{path}", data=PDF, headers=upload["headers"]
        ) as resp:
            assert resp.status == 200, await resp.text()
        status, delivered = await _call(
            http, "POST", f"{order_url}/complete", admin, {"upload_id": upload["upload_id"]}
        )
        assert status == 200 and delivered["status"] == "delivered", delivered
        status, twice = await _call(
            http, "POST", f"{order_url}/complete", admin, {"upload_id": upload["upload_id"]}
        )
        assert status == 200 and twice["delivered_now"] is False

        def ready() -> list[dict[str, Any]]:
            return [n for n in _notes(client, "system") if n["data"].get("order_id")]

        await eventually(lambda: bool(ready()))
        (notice,) = ready()
        assert notice["title"] == "Your Kundli is ready"
        link = notice["data"]["download_url"].split("/api/v1/files/", 1)[1]
        async with http.get(f"{hub.url}/api/v1/files/{link}") as resp:
            assert resp.status == 200 and await resp.read() == PDF
        status, mine = await _call(http, "GET", order_url, client_token)
        assert status == 200 and mine["download_url"]
        status, orders = await _call(http, "GET", f"{base}/report-orders", client_token)
        assert status == 200 and [o["order_id"] for o in orders["orders"]] == [order["order_id"]]

        # 5. The astrologer assigns a remedy with daily reminders; the client completes it.
        astrologer = staff_token(hub, world)
        status, remedy = await _call(
            http,
            "POST",
            f"{base}/remedies",
            astrologer,
            {
                "client_user_id": str(world.user_ids[0]),
                "booking_id": booking,
                "type": "mantra",
                "instructions": "Chant the Gayatri mantra 108 times at sunrise.",
                "duration_days": 7,
                "reminders": True,
                "daily_at": "06:00",
                "idempotency_key": "remedy-1",
            },
        )
        assert status == 201, remedy
        assert len(remedy["reminders_planned"]) == 7
        async with db.acquire() as conn:
            await conn.execute(
                "UPDATE scheduled_messages SET due_at = now() WHERE id = $1",
                UUID(remedy["reminders_planned"][0]["id"]),
            )

        def remedy_notes() -> list[dict[str, Any]]:
            return [n for n in _notes(client, "system") if n["data"].get("remedy_id")]

        await eventually(lambda: bool(remedy_notes()))
        assert remedy_notes()[0]["title"] == "Remedy: mantra"
        status, listed = await _call(http, "GET", f"{base}/remedies", client_token)
        assert [r["remedy_id"] for r in listed["remedies"]] == [remedy["remedy_id"]]
        status, done = await _call(
            http,
            "POST",
            f"{base}/remedies/{remedy['remedy_id']}/complete",
            client_token,
            {"rating": 5, "feedback": "I feel calmer."},
        )
        assert status == 200 and done["status"] == "completed" and done["rating"] == 5, done
        async with db.acquire() as conn:
            left = await conn.fetchval(
                "SELECT count(*) FROM scheduled_messages WHERE status = 'scheduled' "
                "AND data->>'remedy_id' = $1",
                remedy["remedy_id"],
            )
        assert left == 0
        status, assigned = await _call(http, "GET", f"{base}/remedies", astrologer)
        assert assigned["remedies"][0]["feedback"] == "I feel calmer."
    await client.close()


async def test_a_paid_reschedule_without_funds_moves_nothing(astro: tuple[Hub, asyncpg.Pool]):
    hub, db = astro
    world = await _consultation_world(db)
    admin = await admin_token(hub, db, world)
    token = user_token(hub, world)
    booking = await confirmed_booking(hub, db, world)  # spends the whole wallet
    base = f"{hub.url}/api/v1"
    async with aiohttp.ClientSession() as http:
        await _call(
            http,
            "PUT",
            f"{base}/consultation-settings",
            admin,
            {"reschedule_fee_paise": FEE_PAISE, "free_reschedules": 0},
        )
        move = {"slot_id": str(world.slot_ids[1]), "idempotency_key": "poor-move"}
        status, refused = await _call(
            http, "POST", f"{base}/bookings/{booking}/reschedule", token, move
        )
        assert status == 409 and refused["error"]["code"] == "insufficient_funds", refused
        assert await _slot_of(db, booking) == world.slot_ids[0]
        # Topped up, the same key now pays and moves.
        await fund_wallet(hub, db, world, FEE_PAISE)
        status, moved = await _call(
            http, "POST", f"{base}/bookings/{booking}/reschedule", token, move
        )
        assert status == 200 and moved["fee_paise"] == FEE_PAISE, moved
        assert await _balance(db, world) == 0
        # The tenant's staff moving it (e.g. the astrologer is unavailable) charge nothing.
        status, by_staff = await _call(
            http,
            "POST",
            f"{base}/bookings/{booking}/reschedule",
            admin,
            {"slot_id": str(world.slot_ids[2]), "idempotency_key": "staff-move"},
        )
        assert status == 200 and by_staff["fee_paise"] == 0, by_staff


async def test_a_sold_out_paid_reschedule_gives_the_fee_back(astro: tuple[Hub, asyncpg.Pool]):
    hub, db = astro
    world = await _consultation_world(db, users=2)
    admin = await admin_token(hub, db, world)
    booking = await confirmed_booking(hub, db, world)
    await fund_wallet(hub, db, world, FEE_PAISE)
    taken = await make_world(db)  # noqa: F841  (another tenant, unrelated)
    other = user_token(hub, world, 1)
    await fund_wallet(hub, db, world, 110_000, 1)
    async with aiohttp.ClientSession() as http:
        await _call(
            http,
            "PUT",
            f"{hub.url}/api/v1/consultation-settings",
            admin,
            {"reschedule_fee_paise": FEE_PAISE, "free_reschedules": 0},
        )
        status, hold = await _call(
            http,
            "POST",
            f"{hub.url}/api/v1/holds",
            other,
            {"slot_id": str(world.slot_ids[1]), "qty": 1, "idempotency_key": "h1"},
        )
        assert status == 201, hold
        status, refused = await _call(
            http,
            "POST",
            f"{hub.url}/api/v1/bookings/{booking}/reschedule",
            user_token(hub, world),
            {"slot_id": str(world.slot_ids[1]), "idempotency_key": "full"},
        )
        assert status == 409 and refused["error"]["code"] == "sold_out", refused
    assert await _balance(db, world) == FEE_PAISE  # the reservation was voided
    async with db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM reschedule_fees WHERE hold_id = $1", UUID(booking)
            )
            == 0
        )


async def test_a_report_product_needs_a_valid_object_schema_and_orders_check_it(
    astro: tuple[Hub, asyncpg.Pool],
):
    hub, db = astro
    world = await _consultation_world(db)
    admin = await admin_token(hub, db, world)
    token = user_token(hub, world)
    base = f"{hub.url}/api/v1"
    async with aiohttp.ClientSession() as http:
        for schema in ({"type": "objekt"}, {"type": "string"}):
            status, refused = await _call(
                http,
                "PUT",
                f"{base}/report-products/{uuid.uuid4()}",
                admin,
                {"name": "Bad", "price_paise": 100, "intake_schema": schema},
            )
            assert status == 422 and refused["error"]["details"]["reason"] == "invalid_schema"
        status, refused = await _call(
            http,
            "PUT",
            f"{base}/report-products/{uuid.uuid4()}",
            token,
            {"name": "Mine", "price_paise": 0, "intake_schema": KUNDLI_SCHEMA},
        )
        assert status == 403  # clients do not define products
        product_id = str(uuid.uuid4())
        await _call(
            http,
            "PUT",
            f"{base}/report-products/{product_id}",
            admin,
            {"name": "Kundli", "price_paise": KUNDLI_PRICE, "intake_schema": KUNDLI_SCHEMA},
        )
        status, refused = await _call(
            http,
            "POST",
            f"{base}/report-orders",
            token,
            {
                "product_id": product_id,
                "intake": {"name": "", "birth_date": "1990-02-30", "extra": 1},
                "idempotency_key": "k",
            },
        )
        assert status == 422
        locs = [d["loc"] for d in refused["error"]["details"]]
        assert ["intake"] in locs  # required fields missing, unknown field
        assert ["intake", "birth_date"] in locs and ["intake", "name"] in locs
        # No money: the order waits for payment and the same key pays once topped up.
        body = {"product_id": product_id, "intake": INTAKE, "idempotency_key": "later"}
        status, short = await _call(http, "POST", f"{base}/report-orders", token, body)
        assert status == 409 and short["error"]["code"] == "insufficient_funds", short
        await fund_wallet(hub, db, world, KUNDLI_PRICE)
        status, paid = await _call(http, "POST", f"{base}/report-orders", token, body)
        assert status == 200 and paid["status"] == "paid", paid
        status, conflict = await _call(
            http,
            "POST",
            f"{base}/report-orders",
            token,
            {**body, "intake": {**INTAKE, "name": "Other"}},
        )
        assert status == 409 and conflict["error"]["details"]["reason"] == (
            "exists_with_different_fields"
        )
        # Another tenant's user cannot see the order.
        stranger_world = await make_world(db)
        status, _ = await _call(
            http, "GET", f"{base}/report-orders/{paid['order_id']}", user_token(hub, stranger_world)
        )
        assert status == 404


async def test_a_consultation_cancelled_with_a_policy_refunds_and_drops_its_reminders(
    astro: tuple[Hub, asyncpg.Pool],
):
    hub, db = astro
    world = await _consultation_world(db)
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE resources SET cancellation_policy = $2::jsonb WHERE id = $1",
            world.resource_id,
            '[{"hours_before": 24, "refund_percent": 100}]',
        )
    booking = await confirmed_booking(hub, db, world)
    async with aiohttp.ClientSession() as http:
        status, cancelled = await _call(
            http,
            "POST",
            f"{hub.url}/api/v1/bookings/{booking}/cancel",
            user_token(hub, world),
            {"refund_to": "wallet"},
        )
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    assert cancelled["refund_percent"] == 100 and await _balance(db, world) == 110_000
    async with db.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM scheduled_messages WHERE booking_id = $1 "
            "AND status = 'scheduled'",
            UUID(booking),
        )
    assert left == 0


async def test_a_tenants_meeting_server_is_used_and_other_kinds_get_no_room(
    astro: tuple[Hub, asyncpg.Pool],
):
    hub, db = astro
    world = await _consultation_world(db)
    admin = await admin_token(hub, db, world)
    async with aiohttp.ClientSession() as http:
        status, refused = await _call(
            http,
            "PUT",
            f"{hub.url}/api/v1/consultation-settings",
            admin,
            {"reschedule_fee_paise": 0, "meeting_base_url": "http://meet.example.in"},
        )
        assert status == 422, refused
        status, saved = await _call(
            http,
            "PUT",
            f"{hub.url}/api/v1/consultation-settings",
            admin,
            {"reschedule_fee_paise": 0, "meeting_base_url": "https://meet.example.in/seva/"},
        )
        assert status == 200 and saved["meeting_base_url"] == "https://meet.example.in/seva"
        status, read = await _call(http, "GET", f"{hub.url}/api/v1/consultation-settings", admin)
        assert status == 200 and read == saved
        booking = await confirmed_booking(hub, db, world)
        status, meeting = await _call(
            http, "GET", f"{hub.url}/api/v1/bookings/{booking}/meeting", admin
        )
        assert meeting["url"].startswith("https://meet.example.in/seva/seva-"), meeting
        puja = await make_world(db)
        puja_booking = await confirmed_booking(hub, db, puja)
        status, none = await _call(
            http,
            "GET",
            f"{hub.url}/api/v1/bookings/{puja_booking}/meeting",
            await admin_token(hub, db, puja),
        )
        assert status == 404 and none["error"]["details"]["reason"] == "no_meeting"
    assert keys.DB in hub.app
