"""Study library platform: a library imports its students from CSV (all or nothing), a student
books a month's seat through the tenant's actor, shows a short-lived signed QR token, staff
check her in (late) and out, occupancy subscribers see both live, a renewal reminder is
planned, and a fee-due notice goes out over email, spending the tenant's credits.

The hub has its own database and channels (a real SMTP server, the MSG91/WhatsApp receiver):
every hub relaying a database must send on the same channels (see test_deliveries.py)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from hub import keys
from protocols.channels.emulators import create_channel_receiver
from protocols.channels.smtp_receiver import SmtpReceiver, run_smtp_receiver
from protocols.gateways.emulators.common import run_emulator
from storage import ledger as ledger_db
from tests.conftest import channel_settings, start_hub
from tests.support import (
    Client,
    Hub,
    bearer,
    connect,
    create_database,
    eventually,
    make_user,
    token_for,
)

pytestmark = pytest.mark.timeout(120)

SEAT_PRICE_PAISE = 5_000
PLAN_DAYS = 30
EMAIL_CREDITS = 100
EVERY_DAY = {
    day: [{"start": "08:00", "end": "20:00", "every_mins": 720}]
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}


@dataclass(frozen=True)
class Rig:
    hub: Hub
    db: asyncpg.Pool
    smtp: SmtpReceiver


@dataclass(frozen=True)
class LibraryTenant:
    tenant_id: UUID
    admin: str
    staff: str
    staff_id: UUID


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    with run_smtp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
async def rig(pg_dsn: str, ray_session: None, smtp: SmtpReceiver) -> AsyncIterator[Rig]:
    dsn = await create_database(pg_dsn)
    async with run_emulator(create_channel_receiver()) as receiver_url:
        settings = channel_settings(smtp.host, smtp.port, receiver_url, library_late_after_secs=1)
        handle, runner = await start_hub(settings, dsn)
        try:
            yield Rig(handle, handle.app[keys.DB], smtp)
        finally:
            await runner.cleanup()


async def _library(rig: Rig) -> LibraryTenant:
    tag = uuid.uuid4().hex[:10]
    async with rig.db.acquire() as conn:
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name, kind, timezone) "
            "VALUES ($1, $2, 'library', 'UTC') RETURNING id",
            f"lib-{tag}",
            f"Saraswati Library {tag}",
        )
    admin_id = await make_user(rig.db, tenant_id=tenant_id, role="tenant_admin")
    staff_id = await make_user(rig.db, tenant_id=tenant_id, role="staff")
    # Credits first: see the note on wallet caches in the platform's README section.
    await _give_email_credits(rig, tenant_id, EMAIL_CREDITS)
    return LibraryTenant(
        tenant_id,
        token_for(rig.hub, admin_id, tenant_id, "tenant_admin"),
        token_for(rig.hub, staff_id, tenant_id, "staff"),
        staff_id,
    )


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str,
    body: Any = None,
    *,
    data: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with http.request(
        method,
        url,
        json=body,
        data=data,
        params=params,
        headers={**bearer(token), **(headers or {})},
    ) as resp:
        return resp.status, await resp.json()


def _phone() -> str:
    return f"9{secrets.randbelow(10**9):09d}"


async def _seat(
    rig: Rig, http: aiohttp.ClientSession, lib: LibraryTenant, *, today_starts_in_secs: float
) -> str:
    """A one-seat resource with a slot every day for PLAN_DAYS days: today's (made directly,
    starting in a moment, so that a check-in can be late) and the rest from the schedule."""
    status, resource = await _call(
        http,
        "POST",
        f"{rig.hub.url}/api/v1/catalog/resources",
        lib.admin,
        {
            "kind": "seat",
            "name": "Silent Hall, seat 7",
            "price_paise": SEAT_PRICE_PAISE,
            "capacity": 1,
            "images": [],
            "languages": ["en"],
            "cancellation_policy": [],
        },
    )
    assert status == 201, resource
    resource_id = resource["resource_id"]
    today = datetime.now(UTC).date()
    status, made = await _call(
        http,
        "POST",
        f"{rig.hub.url}/api/v1/catalog/resources/{resource_id}/slots:generate",
        lib.admin,
        {
            "from": (today + timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=PLAN_DAYS - 1)).isoformat(),
            "weekly": {
                d: [{**w, "capacity": 1, "price_paise": SEAT_PRICE_PAISE} for w in ws]
                for d, ws in EVERY_DAY.items()
            },
        },
    )
    assert (status, made["created"]) == (200, PLAN_DAYS - 1), made
    starts = datetime.now(UTC) + timedelta(seconds=today_starts_in_secs)
    async with rig.db.acquire() as conn:
        await conn.execute(
            "INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, capacity,"
            " price_paise) VALUES ($1, $2, $3, $4, $5, 1, $6)",
            lib.tenant_id,
            UUID(resource_id),
            starts,
            starts + timedelta(hours=6),
            today,
            SEAT_PRICE_PAISE,
        )
    return str(resource_id)


async def _fund(rig: Rig, tenant_id: UUID, user_id: UUID, amount: int) -> None:
    from actors.ledger import TransferSpec

    async with rig.db.acquire() as conn:
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=tenant_id,
            owner_user_id=user_id,
            limited=True,
        )
        clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
    await rig.hub.app[keys.WALLETS].apply(
        (TransferSpec(f"topup-{uuid.uuid4()}", clearing, wallet, amount),)
    )


async def _give_email_credits(rig: Rig, tenant_id: UUID, units: int) -> None:
    tag = uuid.uuid4().hex
    wallets = rig.hub.app[keys.WALLETS]
    await wallets.purchase_credits(
        channel="EMAIL", units=units, rate_paise=0, vendor="test", transfer_id=f"buy-{tag}"
    )
    await wallets.allocate_credits(
        tenant_id=tenant_id,
        channel="EMAIL",
        units=units,
        rate_paise=0,
        transfer_id=f"give-{tag}",
        low_balance_threshold=None,
    )


async def _settled(
    rig: Rig, user_id: UUID, *, kinds: tuple[str, ...], count: int, within: float = 30
) -> list[str]:
    """The statuses of the user's email deliveries of ``kinds`` once ``count`` exist and none
    is still on its way."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with rig.db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT status FROM deliveries WHERE user_id = $1 AND channel = 'email' "
                "AND kind = ANY($2::text[])",
                user_id,
                list(kinds),
            )
        found = [r["status"] for r in rows]
        if len(found) >= count and not {"queued", "sending", "failed"} & set(found):
            return found
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.1)


async def _users_of(rig: Rig, tenant_id: UUID) -> int:
    async with rig.db.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'user'", tenant_id
            )
        )


async def _occupancy_events(client: Client, count: int) -> list[dict[str, Any]]:
    await eventually(lambda: len(client.received("occupancy")) >= count)
    return client.received("occupancy")


async def test_a_library_imports_students_books_a_month_and_takes_attendance(rig: Rig) -> None:
    lib = await _library(rig)
    url = rig.hub.url
    priya_phone, arjun_phone = _phone(), _phone()
    priya_email = f"priya-{uuid.uuid4().hex[:8]}@example.test"
    async with aiohttp.ClientSession() as http:
        # 1. A CSV with one bad row is refused whole: the report names line 3, nobody is made.
        bad = (
            "Name,Phone,Email\n"
            f"Priya Sharma,{priya_phone[:5]} {priya_phone[5:]},{priya_email}\n"
            "Arjun Verma,12345,\n"
            f"Meera Iyer,0{_phone()},\n"
        )
        status, answer = await _call(
            http,
            "POST",
            f"{url}/api/v1/students/import",
            lib.admin,
            data=bad.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert status == 422, answer
        assert answer["error"]["code"] == "invalid"
        assert answer["error"]["details"]["rows"] == [
            {"line": 3, "field": "phone", "reason": "not_an_indian_mobile"}
        ]
        assert await _users_of(rig, lib.tenant_id) == 0
        # 2. Fixed, it imports every row in one go, phones normalized to E.164.
        good = bad.replace("Arjun Verma,12345,", f"Arjun Verma,+91-{arjun_phone},")
        status, imported = await _call(
            http,
            "POST",
            f"{url}/api/v1/students/import",
            lib.admin,
            data=good.encode(),
            headers={"Content-Type": "text/csv", "Idempotency-Key": "csv-1"},
        )
        assert status == 201, imported
        assert imported["imported"] == 3
        priya = imported["students"][0]
        assert (priya["line"], priya["phone"]) == (2, f"+91{priya_phone}")
        assert imported["students"][1]["phone"] == f"+91{arjun_phone}"
        assert await _users_of(rig, lib.tenant_id) == 3
        # The same file under the same key answers the same import (nothing made twice).
        status, again = await _call(
            http,
            "POST",
            f"{url}/api/v1/students/import",
            lib.admin,
            data=good.encode(),
            headers={"Content-Type": "text/csv", "Idempotency-Key": "csv-1"},
        )
        assert (status, again) == (200, imported)
        assert await _users_of(rig, lib.tenant_id) == 3

        # 3. Priya books the seat for a month, paid from her wallet, through the actor.
        priya_id = UUID(priya["user_id"])
        arjun_id = UUID(imported["students"][1]["user_id"])
        priya_token = token_for(rig.hub, priya_id, lib.tenant_id, "user")
        resource_id = await _seat(rig, http, lib, today_starts_in_secs=1.5)
        await _fund(rig, lib.tenant_id, priya_id, PLAN_DAYS * SEAT_PRICE_PAISE)
        plan_body = {
            "resource_id": resource_id,
            "start_date": datetime.now(UTC).date().isoformat(),
            "days": PLAN_DAYS,
            "idempotency_key": "month-1",
        }
        status, plan = await _call(http, "POST", f"{url}/api/v1/seat-plans", priya_token, plan_body)
        assert status == 201, plan
        assert plan["status"] == "active"
        assert len(plan["booking_ids"]) == PLAN_DAYS
        assert plan["amount_paise"] == PLAN_DAYS * SEAT_PRICE_PAISE
        # A renewal reminder is planned 3 days before the plan ends.
        renewal = plan["renewal_reminder"]
        assert renewal is not None and renewal["status"] == "scheduled"
        assert renewal["purpose"] == "renewal" and renewal["kind"] == "plan_renewal"
        last_day = date.fromisoformat(plan["ends_on"])
        assert datetime.fromisoformat(renewal["due_at"]) == datetime(
            last_day.year, last_day.month, last_day.day, 20, tzinfo=UTC
        ) - timedelta(days=3)
        # The same key answers the same plan; Arjun cannot have the same seat on any day.
        status, same = await _call(http, "POST", f"{url}/api/v1/seat-plans", priya_token, plan_body)
        assert (status, same["plan_id"]) == (200, plan["plan_id"])
        arjun_token = token_for(rig.hub, arjun_id, lib.tenant_id, "user")
        await _fund(rig, lib.tenant_id, arjun_id, PLAN_DAYS * SEAT_PRICE_PAISE)
        status, refused = await _call(
            http,
            "POST",
            f"{url}/api/v1/seat-plans",
            arjun_token,
            {
                **plan_body,
                "start_date": (date.today() + timedelta(days=3)).isoformat(),
                "days": 5,
                "idempotency_key": "arjun-1",
            },
        )
        assert (status, refused["error"]["code"]) == (409, "sold_out"), refused
        async with rig.db.acquire() as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM holds WHERE user_id = $1 "
                    "AND status IN ('held', 'confirmed')",
                    arjun_id,
                )
                == 0
            )
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM holds h JOIN slots s ON s.id = h.slot_id "
                    "WHERE s.resource_id = $1 AND h.status = 'confirmed'",
                    UUID(resource_id),
                )
                == PLAN_DAYS
            )

        # 4. Occupancy subscribers (the desk and a student) see check-in and check-out live.
        desk = await connect(rig.hub, lib.staff)
        watcher = await connect(rig.hub, arjun_token)
        try:
            for client in (desk, watcher):
                ack = await client.call("occupancy:subscribe", {"library_id": str(lib.tenant_id)})
                assert ack["ok"], ack
                assert (ack["data"]["occupied"], ack["data"]["capacity"]) == (0, 1)
            status, qr = await _call(http, "GET", f"{url}/api/v1/attendance/qr", priya_token)
            assert status == 200 and qr["ttl_secs"] == 60, qr
            await asyncio.sleep(2.7)  # today's slot started 1.2 s ago; late after 1 s
            scan = {"qr_token": qr["qr_token"], "idempotency_key": "desk-scan-1"}
            status, checked_in = await _call(
                http, "POST", f"{url}/api/v1/attendance/check-in", lib.staff, scan
            )
            assert status == 200, checked_in
            assert (checked_in["status"], checked_in["changed"]) == ("late", True)
            assert checked_in["late_by_secs"] >= 1
            assert checked_in["booking_id"] in plan["booking_ids"]
            for client in (desk, watcher):
                (event,) = await _occupancy_events(client, 1)
                assert event["library_id"] == str(lib.tenant_id)
                assert (event["occupied"], event["capacity"]) == (1, 1)
            # The desk's retried scan answers the same check-in and pushes nothing.
            status, retried = await _call(
                http, "POST", f"{url}/api/v1/attendance/check-in", lib.staff, scan
            )
            assert (status, retried["attendance_id"], retried["changed"]) == (
                200,
                checked_in["attendance_id"],
                False,
            )
            status, occupancy = await _call(
                http, "GET", f"{url}/api/v1/libraries/{lib.tenant_id}/occupancy", arjun_token
            )
            assert (status, occupancy["occupied"], occupancy["capacity"]) == (200, 1, 1)

            # 5. Check-out computes the time spent.
            await asyncio.sleep(1.1)
            status, out = await _call(
                http,
                "POST",
                f"{url}/api/v1/attendance/check-out",
                lib.staff,
                {"qr_token": qr["qr_token"]},
            )
            assert status == 200, out
            assert out["changed"] is True and out["duration_secs"] >= 1
            in_at = datetime.fromisoformat(out["checked_in_at"])
            out_at = datetime.fromisoformat(out["checked_out_at"])
            assert out["duration_secs"] == int((out_at - in_at).total_seconds())
            events = await _occupancy_events(watcher, 2)
            assert events[-1]["occupied"] == 0
            assert datetime.fromisoformat(events[-1]["at"]) > datetime.fromisoformat(
                events[0]["at"]
            )
        finally:
            await desk.close()
            await watcher.close()

        # 6. The day's register: Priya late, with her times.
        status, register = await _call(
            http,
            "GET",
            f"{url}/api/v1/libraries/{lib.tenant_id}/attendance",
            lib.staff,
            params={"date": datetime.now(UTC).date().isoformat()},
        )
        assert status == 200, register
        (row,) = register["bookings"]
        assert (row["user_id"], row["status"]) == (str(priya_id), "late")
        assert row["duration_secs"] == out["duration_secs"]
        assert register["counts"]["late"] == 1

        # 7. A fee-due notice goes out by email and spends one of the library's email credits.
        # (The plan's one booking confirmation was emailed and charged too; its days send none.)
        status, notice = await _call(
            http,
            "POST",
            f"{url}/api/v1/students/{priya_id}/fee-due",
            lib.staff,
            {"amount_paise": 150_000, "due_date": "2030-01-05", "idempotency_key": "fee-jan"},
        )
        assert status == 201, notice
        status, again = await _call(
            http,
            "POST",
            f"{url}/api/v1/students/{priya_id}/fee-due",
            lib.staff,
            {"amount_paise": 150_000, "due_date": "2030-01-05", "idempotency_key": "fee-jan"},
        )
        assert status == 200, again
    (fee_email,) = await _settled(rig, priya_id, kinds=("fee_due",), count=1)
    assert fee_email == "sent"
    assert any(m.message["Subject"] == "Fee due" for m in rig.smtp.messages)
    confirmations = await _settled(rig, priya_id, kinds=("booking_confirmed",), count=1)
    assert confirmations == ["sent"]
    async with rig.db.acquire() as conn:
        credits = await ledger_db.ensure_account(
            conn, code="tenant_credits", currency="EMAIL", tenant_id=lib.tenant_id, limited=True
        )
        account = await ledger_db.get_account(conn, account_id=credits)
    assert account is not None
    # One credit per email sent (the fee notice and the plan's confirmation), none pending.
    spent = EMAIL_CREDITS - (account.credits_posted - account.debits_posted)
    assert (spent, account.debits_pending) == (2, 0)


async def test_forged_expired_and_foreign_qr_tokens_check_nobody_in(rig: Rig) -> None:
    lib, other = await _library(rig), await _library(rig)
    student = await make_user(rig.db, tenant_id=lib.tenant_id, role="user")
    stranger = await make_user(rig.db, tenant_id=other.tenant_id, role="user")
    url = f"{rig.hub.url}/api/v1/attendance/check-in"
    qrs = rig.hub.app[keys.LIBRARY].attendance._qr
    async with aiohttp.ClientSession() as http:
        _, mine = await _call(
            http,
            "GET",
            f"{rig.hub.url}/api/v1/attendance/qr",
            token_for(rig.hub, student, lib.tenant_id, "user"),
        )
        _, theirs = await _call(
            http,
            "GET",
            f"{rig.hub.url}/api/v1/attendance/qr",
            token_for(rig.hub, stranger, other.tenant_id, "user"),
        )
        expired = qrs.encode(qrs.issue(user_id=student, tenant_id=lib.tenant_id, now=0))
        forged = mine["qr_token"][:-4] + "AAAA"
        cases = [
            (forged, 422, "qr_signature"),
            (expired, 422, "qr_expired"),
            ("not a token", 422, "qr_malformed"),
            (theirs["qr_token"], 404, "other_library"),
            (mine["qr_token"], 409, "no_booking_now"),  # a valid token, but no booking today
        ]
        for token, status, reason in cases:
            got, answer = await _call(http, "POST", url, lib.staff, {"qr_token": token})
            assert (got, answer["error"]["details"]["reason"]) == (status, reason), answer
        # A student cannot check herself in.
        got, answer = await _call(
            http,
            "POST",
            url,
            token_for(rig.hub, student, lib.tenant_id, "user"),
            {"qr_token": mine["qr_token"]},
        )
        assert (got, answer["error"]["code"]) == (403, "forbidden")
        # Another library's staff cannot read this library's occupancy or register.
        got, _ = await _call(
            http, "GET", f"{rig.hub.url}/api/v1/libraries/{lib.tenant_id}/occupancy", other.staff
        )
        assert got == 404
    async with rig.db.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM attendance WHERE user_id = $1", student) == 0
        )


async def test_csv_import_as_a_form_refuses_duplicates_and_registered_numbers(rig: Rig) -> None:
    lib = await _library(rig)
    taken = _phone()
    first = await _library(rig)
    async with aiohttp.ClientSession() as http:
        status, _ = await _call(
            http,
            "POST",
            f"{rig.hub.url}/api/v1/students/import",
            first.admin,
            data=f"name,phone\nAsha,{taken}\n".encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert status == 201
        repeated = _phone()
        csv_text = (
            "phone,name,email\n"
            f"{repeated},Ravi,ravi@example.test\n"
            f"{repeated},Ravi again,\n"
            f"{taken},Asha,\n"
            f"{_phone()},,not-an-email\n"
        )
        form = aiohttp.FormData()
        form.add_field("file", csv_text.encode(), filename="students.csv", content_type="text/csv")
        status, answer = await _call(
            http, "POST", f"{rig.hub.url}/api/v1/students/import", lib.admin, data=form
        )
        assert status == 422, answer
        assert answer["error"]["details"]["rows"] == [
            {"line": 3, "field": "phone", "reason": "duplicate_in_file", "first_line": 2},
            {"line": 4, "field": "phone", "reason": "already_registered"},
            {"line": 5, "field": "email", "reason": "not_an_email"},
            {"line": 5, "field": "name", "reason": "missing"},
        ]
        status, answer = await _call(
            http,
            "POST",
            f"{rig.hub.url}/api/v1/students/import",
            lib.admin,
            data=b"name,mobile\nX,9876543210\n",
            headers={"Content-Type": "text/csv"},
        )
        assert (status, answer["error"]["details"]["reason"]) == (422, "bad_header")
        # Staff may not import.
        status, _ = await _call(
            http,
            "POST",
            f"{rig.hub.url}/api/v1/students/import",
            lib.staff,
            data=b"name,phone\n",
            headers={"Content-Type": "text/csv"},
        )
        assert status == 403
    assert await _users_of(rig, lib.tenant_id) == 0


async def test_a_booked_day_without_a_check_in_is_absent_in_the_register(rig: Rig) -> None:
    lib = await _library(rig)
    student = await make_user(rig.db, tenant_id=lib.tenant_id, role="user")
    async with aiohttp.ClientSession() as http:
        resource_id = await _seat(rig, http, lib, today_starts_in_secs=1.0)
        await _fund(rig, lib.tenant_id, student, 2 * SEAT_PRICE_PAISE)
        today = datetime.now(UTC).date()
        status, plan = await _call(
            http,
            "POST",
            f"{rig.hub.url}/api/v1/seat-plans",
            token_for(rig.hub, student, lib.tenant_id, "user"),
            {
                "resource_id": resource_id,
                "start_date": today.isoformat(),
                "days": 2,
                "idempotency_key": "two-days",
            },
        )
        assert status == 201, plan
        # Today's slot ends without her (moved into the past here rather than waiting 6 h).
        await asyncio.sleep(1.2)
        async with rig.db.acquire() as conn:
            await conn.execute(
                "UPDATE slots SET ends_at = starts_at + interval '1 millisecond' "
                "WHERE resource_id = $1 AND local_date = $2",
                UUID(resource_id),
                today,
            )
        register_url = f"{rig.hub.url}/api/v1/libraries/{lib.tenant_id}/attendance"
        status, register = await _call(
            http, "GET", register_url, lib.staff, params={"date": today.isoformat()}
        )
        assert status == 200, register
        assert [b["status"] for b in register["bookings"]] == ["absent"]
        tomorrow = (today + timedelta(days=1)).isoformat()
        status, register = await _call(
            http, "GET", register_url, lib.staff, params={"date": tomorrow}
        )
        assert [b["status"] for b in register["bookings"]] == ["expected"]
        assert register["counts"] == {"on_time": 0, "late": 0, "absent": 0, "expected": 1}
        status, bad = await _call(
            http, "GET", register_url, lib.staff, params={"date": "2026-02-30"}
        )
        assert (status, bad["error"]["code"]) == (422, "invalid")
