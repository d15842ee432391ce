"""Study library messaging: a fee-due notice and a due seat-plan renewal reminder go out by SMS
through their DLT templates, each spending one of the library's SMS credits; a seat plan sends
ONE plan-level ``booking_confirmed`` instead of one per day, while a single booking still gets
its own.

The hub has its own database and channels (a real SMTP server, the MSG91/WhatsApp receiver):
every hub relaying a database must send on the same channels (see test_deliveries.py)."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from actors.ledger import TransferSpec
from hub import keys
from protocols.channels.emulators import create_channel_receiver
from protocols.channels.smtp_receiver import SmtpReceiver, run_smtp_receiver
from protocols.channels.templates import SMS_TEMPLATES
from protocols.gateways.emulators.common import run_emulator
from storage import ledger as ledger_db
from tests.conftest import channel_settings, start_hub
from tests.support import Hub, bearer, connect, create_database, token_for

pytestmark = pytest.mark.timeout(90)

SEAT_PRICE_PAISE = 5_000
CREDITS = 10


@dataclass(frozen=True)
class Rig:
    hub: Hub
    db: asyncpg.Pool
    receiver_url: str


@dataclass(frozen=True)
class Library:
    tenant_id: UUID
    seat_id: UUID
    other_seat_slot_id: UUID
    student_id: UUID
    phone_digits: str
    student: str
    staff: str


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    with run_smtp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
async def rig(pg_dsn: str, ray_session: None, smtp: SmtpReceiver) -> AsyncIterator[Rig]:
    dsn = await create_database(pg_dsn)
    async with run_emulator(create_channel_receiver()) as receiver_url:
        settings = channel_settings(smtp.host, smtp.port, receiver_url, reminder_poll_secs=0.2)
        handle, runner = await start_hub(settings, dsn)
        try:
            yield Rig(handle, handle.app[keys.DB], receiver_url)
        finally:
            await runner.cleanup()


def _tomorrow() -> date:
    return datetime.now(UTC).date() + timedelta(days=1)


async def _library(rig: Rig, *, language: str = "en", days: int = 4) -> Library:
    """A library with a one-place seat open every day from tomorrow for ``days`` days, another
    seat with one slot, a student (phone, email, ``language``) with a funded wallet, a staff
    member, and the library's email and SMS credits."""
    tag = uuid.uuid4().hex[:10]
    phone = f"+919{secrets.randbelow(10**9):09d}"
    async with rig.db.acquire() as conn, conn.transaction():
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name, kind, timezone) "
            "VALUES ($1, $2, 'library', 'UTC') RETURNING id",
            f"lib-{tag}",
            f"Saraswati Library {tag}",
        )
        seat_id, other_id = [
            await conn.fetchval(
                "INSERT INTO resources (tenant_id, kind, name) VALUES ($1, 'seat', $2) "
                "RETURNING id",
                tenant_id,
                name,
            )
            for name in ("Seat A-12", "Seat B-3")
        ]
        other_slot_id = None
        for resource_id, count in ((seat_id, days), (other_id, 1)):
            for i in range(count):
                day = _tomorrow() + timedelta(days=i)
                starts = datetime.combine(day, time(8), UTC)
                other_slot_id = await conn.fetchval(
                    "INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, "
                    "capacity, price_paise) VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
                    tenant_id,
                    resource_id,
                    starts,
                    starts + timedelta(hours=12),
                    day,
                    SEAT_PRICE_PAISE,
                )
        student_id, staff_id = [
            await conn.fetchval(
                "INSERT INTO users (tenant_id, email, name, role, password_hash, phone, language)"
                " VALUES ($1, $2, $3, $4, 'x', $5, $6) RETURNING id",
                tenant_id,
                f"{role}-{tag}@example.test",
                name,
                role,
                user_phone,
                language,
            )
            for role, name, user_phone in (("user", "Priya", phone), ("staff", "Desk", None))
        ]
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=tenant_id,
            owner_user_id=student_id,
            limited=True,
        )
        clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
    wallets = rig.hub.app[keys.WALLETS]
    await wallets.apply(
        (TransferSpec(f"topup-{uuid.uuid4()}", clearing, wallet, (days + 1) * SEAT_PRICE_PAISE),)
    )
    for channel in ("EMAIL", "SMS"):
        buy = uuid.uuid4().hex
        await wallets.purchase_credits(
            channel=channel, units=CREDITS, rate_paise=0, vendor="test", transfer_id=f"buy-{buy}"
        )
        await wallets.allocate_credits(
            tenant_id=tenant_id,
            channel=channel,
            units=CREDITS,
            rate_paise=0,
            transfer_id=f"give-{buy}",
            low_balance_threshold=None,
        )
    assert other_slot_id is not None
    return Library(
        tenant_id,
        seat_id,
        other_slot_id,
        student_id,
        phone.lstrip("+"),
        token_for(rig.hub, student_id, tenant_id, "user"),
        token_for(rig.hub, staff_id, tenant_id, "staff"),
    )


async def _post(rig: Rig, path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=bearer(token)) as http,
        http.post(f"{rig.hub.url}/api/v1{path}", json=body) as resp,
    ):
        return resp.status, await resp.json()


async def _book_plan(rig: Rig, lib: Library, days: int) -> dict[str, Any]:
    status, plan = await _post(
        rig,
        "/seat-plans",
        lib.student,
        {
            "resource_id": str(lib.seat_id),
            "start_date": _tomorrow().isoformat(),
            "days": days,
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    assert status == 201, plan
    assert plan["status"] == "active" and len(plan["booking_ids"]) == days
    return dict(plan)


async def _deliveries(
    rig: Rig, lib: Library, kind: str, count: int, within: float = 20
) -> dict[str, str]:
    """{channel: status} of the student's deliveries of ``kind`` once ``count`` exist and none
    is still on its way."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with rig.db.acquire() as conn:
            rows = await conn.fetch(
                "SELECT channel, status FROM deliveries WHERE user_id = $1 AND kind = $2",
                lib.student_id,
                kind,
            )
        found = [(r["channel"], r["status"]) for r in rows]
        if len(found) >= count and not {"queued", "sending", "failed"} & {s for _, s in found}:
            assert len(found) == count, found
            return dict(found)
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.1)


async def _sms_to(rig: Rig, lib: Library) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{rig.receiver_url}/_receiver/messages", params={"channel": "sms"}) as resp,
    ):
        return [m for m in (await resp.json())["messages"] if m["to"] == lib.phone_digits]


async def _sms_credits(rig: Rig, lib: Library) -> tuple[int, int]:
    """(posted balance, pending debits) of the library's SMS credits."""
    async with rig.db.acquire() as conn:
        account_id = await ledger_db.ensure_account(
            conn, code="tenant_credits", currency="SMS", tenant_id=lib.tenant_id, limited=True
        )
        account = await ledger_db.get_account(conn, account_id=account_id)
    assert account is not None
    return account.credits_posted - account.debits_posted, account.debits_pending


async def _confirmations(rig: Rig, lib: Library) -> list[dict[str, Any]]:
    async with rig.db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT data FROM notifications WHERE user_id = $1 AND type = 'booking_confirmed' "
            "ORDER BY seq",
            lib.student_id,
        )
    return [json.loads(r["data"]) for r in rows]


async def test_a_fee_due_notice_goes_out_by_sms_with_its_dlt_template_for_one_sms_credit(
    rig: Rig,
) -> None:
    lib = await _library(rig, language="hi")
    body = {"amount_paise": 150_050, "due_date": "2030-01-05", "idempotency_key": "fee-jan"}
    status, notice = await _post(rig, f"/students/{lib.student_id}/fee-due", lib.staff, body)
    assert status == 201, notice
    assert notice["kind"] == "fee_due"
    assert await _deliveries(rig, lib, "fee_due", 2) == {"email": "sent", "sms": "sent"}

    (sms,) = await _sms_to(rig, lib)
    template = SMS_TEMPLATES[("fee_due", "hi")]
    assert (sms["dlt_template_id"], sms["sender"]) == (template.template_id, "SEVAHB")
    assert sms["text"] == "आपकी ₹1500.50 की फ़ीस 05-01-2030 तक देय है। - सेवा हब"
    assert await _sms_credits(rig, lib) == (CREDITS - 1, 0)
    async with rig.db.acquire() as conn:
        note = await conn.fetchrow(
            "SELECT title, data FROM notifications WHERE user_id = $1 AND type = 'fee_due'",
            lib.student_id,
        )
    assert note is not None and note["title"] == "Fee due"
    assert json.loads(note["data"]) == {"amount_paise": 150_050, "due_date": "2030-01-05"}

    # The same key answers the same notice and sends (and charges) nothing again.
    status, again = await _post(rig, f"/students/{lib.student_id}/fee-due", lib.staff, body)
    assert (status, again) == (200, notice)
    await asyncio.sleep(0.5)
    assert len(await _sms_to(rig, lib)) == 1
    assert await _sms_credits(rig, lib) == (CREDITS - 1, 0)


async def test_a_due_renewal_reminder_goes_out_by_sms(rig: Rig) -> None:
    lib = await _library(rig, days=4)
    plan = await _book_plan(rig, lib, days=4)
    reminder = plan["renewal_reminder"]
    assert (reminder["kind"], reminder["purpose"], reminder["status"]) == (
        "plan_renewal",
        "renewal",
        "scheduled",
    )
    assert reminder["data"] == {
        "seat_plan_id": plan["plan_id"],
        "seat": "Seat A-12",
        "plan_ends_on": plan["ends_on"],
    }
    await _deliveries(rig, lib, "booking_confirmed", 2)  # the plan's one confirmation
    before = await _sms_credits(rig, lib)

    # Three days before the end has come.
    async with rig.db.acquire() as conn:
        await conn.execute(
            "UPDATE scheduled_messages SET due_at = now() WHERE id = $1", UUID(reminder["id"])
        )
    assert await _deliveries(rig, lib, "plan_renewal", 2) == {"email": "sent", "sms": "sent"}
    sms = [m for m in await _sms_to(rig, lib) if m["template_id"] == "seva_plan_renewal_en"]
    assert len(sms) == 1
    assert sms[0]["dlt_template_id"] == SMS_TEMPLATES[("plan_renewal", "en")].template_id
    ends = date.fromisoformat(plan["ends_on"]).strftime("%d-%m-%Y")
    assert sms[0]["text"] == (
        f"Your seat plan ends on {ends}. Renew it to keep your seat. - Seva Hub"
    )
    assert await _sms_credits(rig, lib) == (before[0] - 1, 0)
    async with rig.db.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT status FROM scheduled_messages WHERE id = $1", UUID(reminder["id"])
            )
            == "sent"
        )


async def test_a_seat_plan_sends_one_confirmation_and_a_single_booking_still_its_own(
    rig: Rig,
) -> None:
    days = 5
    lib = await _library(rig, days=days)
    plan = await _book_plan(rig, lib, days=days)
    # One plan-level confirmation on each channel, charged once — not one per day.
    assert await _deliveries(rig, lib, "booking_confirmed", 2) == {
        "email": "sent",
        "sms": "sent",
    }
    assert await _confirmations(rig, lib) == [
        {
            "plan_id": plan["plan_id"],
            "resource_id": str(lib.seat_id),
            "seat": "Seat A-12",
            "from": plan["starts_on"],
            "to": plan["ends_on"],
        }
    ]
    (sms,) = await _sms_to(rig, lib)
    assert sms["dlt_template_id"] == SMS_TEMPLATES[("booking_confirmed", "en")].template_id
    assert plan["plan_id"][:8].upper() in sms["text"]
    assert await _sms_credits(rig, lib) == (CREDITS - 1, 0)
    async with rig.db.acquire() as conn:
        per_day = await conn.fetchval(
            "SELECT count(*) FROM scheduled_messages WHERE user_id = $1 "
            "AND kind = 'booking_reminder'",
            lib.student_id,
        )
    assert per_day == 0  # no 24 h / 1 h reminders for each day of the plan

    # The same student's ordinary booking of another seat is confirmed as before.
    client = await connect(rig.hub, lib.student)
    try:
        held = await client.call(
            "hold:create",
            {"slot_id": str(lib.other_seat_slot_id), "qty": 1, "idempotency_key": "single"},
        )
        assert held["ok"], held
        paid = await client.call("hold:pay", {"hold_id": held["data"]["hold_id"]})
        assert paid["ok"] and paid["data"]["status"] == "confirmed", paid
    finally:
        await client.close()
    await _deliveries(rig, lib, "booking_confirmed", 4)
    confirmations = await _confirmations(rig, lib)
    assert len(confirmations) == 2
    assert confirmations[1] == {
        "booking_id": held["data"]["hold_id"],
        "slot_id": str(lib.other_seat_slot_id),
    }
