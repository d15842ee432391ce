"""Deliveries over email, SMS and WhatsApp: planned from the outbox, paid with messaging
credits through the wallet actors, retried, dead, requeued — against a real SMTP server
(aiosmtpd) and local receivers speaking MSG91's and WhatsApp's HTTP APIs."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import pytest

from hub import keys
from hub.deliveries import DeliveryWorker
from protocols.channels.emulators import create_channel_receiver
from protocols.channels.interface import build_channels
from protocols.channels.smtp_receiver import SmtpReceiver, run_smtp_receiver
from protocols.gateways.emulators.common import run_emulator
from storage import deliveries as deliveries_db
from storage import ledger as ledger_db
from tests.conftest import channel_settings, start_hub
from tests.support import (
    REPO_ROOT,
    Hub,
    World,
    bearer,
    confirmed_booking,
    connect,
    create_database,
    eventually,
    make_user,
    make_world,
    token_for,
    user_token,
)

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Rig:
    hub: Hub
    db: asyncpg.Pool
    dsn: str
    smtp: SmtpReceiver
    receiver_url: str
    settings: Any
    # Workers a test started in place of the hub's own; stopped with the rig.
    workers: list[DeliveryWorker]


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    with run_smtp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
async def rig(pg_dsn: str, ray_session: None, smtp: SmtpReceiver) -> AsyncIterator[Rig]:
    # A database of its own: every hub relaying a database must send on the same channels.
    dsn = await create_database(pg_dsn)
    async with run_emulator(create_channel_receiver()) as receiver_url:
        settings = channel_settings(
            smtp.host,
            smtp.port,
            receiver_url,
            delivery_backoff_base_secs=0.2,
            delivery_backoff_max_secs=0.5,
            delivery_lease_secs=2.0,
            delivery_max_attempts=3,
        )
        handle, runner = await start_hub(settings, dsn)
        try:
            rig = Rig(handle, handle.app[keys.DB], dsn, smtp, receiver_url, settings, [])
            yield rig
        finally:
            for worker in rig.workers:
                await worker.stop()
            await runner.cleanup()


async def _world(rig: Rig, *, language: str = "en", credits: dict[str, int] | None = None) -> World:
    world = await make_world(rig.db)
    phone = f"+919{secrets.randbelow(10**9):09d}"
    async with rig.db.acquire() as conn:
        await conn.execute(
            "UPDATE users SET phone = $2, language = $3 WHERE id = $1",
            world.user_ids[0],
            phone,
            language,
        )
    wallets = rig.hub.app[keys.WALLETS]
    for channel, units in (credits if credits is not None else {"email": 10, "sms": 10}).items():
        tag = uuid.uuid4().hex
        await wallets.purchase_credits(
            channel=channel.upper(),
            units=units,
            rate_paise=0,
            vendor="test",
            transfer_id=f"buy-{tag}",
        )
        await wallets.allocate_credits(
            tenant_id=world.tenant_id,
            channel=channel.upper(),
            units=units,
            rate_paise=0,
            transfer_id=f"give-{tag}",
            low_balance_threshold=None,
        )
    return world


async def _credits(rig: Rig, world: World, channel: str) -> tuple[int, int]:
    """(posted balance, pending debits) of the tenant's ``channel`` credits."""
    async with rig.db.acquire() as conn:
        account_id = await ledger_db.ensure_account(
            conn,
            code="tenant_credits",
            currency=channel.upper(),
            tenant_id=world.tenant_id,
            limited=True,
        )
        account = await ledger_db.get_account(conn, account_id=account_id)
    assert account is not None
    return account.credits_posted - account.debits_posted, account.debits_pending


async def _deliveries(rig: Rig, world: World) -> list[deliveries_db.Delivery]:
    async with rig.db.acquire() as conn:
        return await deliveries_db.listing(
            conn, tenant_id=world.tenant_id, status=None, user_id=world.user_ids[0], limit=100
        )


async def _settled(rig: Rig, world: World, count: int, within: float = 20) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await _deliveries(rig, world)
        done = [d for d in found if d.status not in ("queued", "sending", "failed")]
        if len(found) >= count and len(done) == len(found):
            return found
        assert asyncio.get_running_loop().time() < deadline, [(d.channel, d.status) for d in found]
        await asyncio.sleep(0.05)


async def _received(rig: Rig, channel: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{rig.receiver_url}/_receiver/messages", params={"channel": channel})
        return (await resp.json())["messages"]


async def _fault(rig: Rig, **fault: Any) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{rig.receiver_url}/_receiver/faults", json=fault)
        assert resp.status == 200, await resp.text()


def _phone_digits(phone: str) -> str:
    return phone.lstrip("+")


async def _phone_of(rig: Rig, user_id: UUID) -> str:
    async with rig.db.acquire() as conn:
        return await conn.fetchval("SELECT phone FROM users WHERE id = $1", user_id)


async def _email_of(rig: Rig, user_id: UUID) -> str:
    async with rig.db.acquire() as conn:
        return await conn.fetchval("SELECT email FROM users WHERE id = $1", user_id)


async def _notice(rig: Rig, world: World, title: str) -> None:
    admin = await make_user(rig.db, tenant_id=world.tenant_id, role="tenant_admin")
    token = token_for(rig.hub, admin, world.tenant_id, "tenant_admin")
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        resp = await http.post(
            f"{rig.hub.url}/api/v1/tenants/{world.tenant_id}/notifications",
            json={
                "user_ids": [str(world.user_ids[0])],
                "title": title,
                "body": f"{title} body",
                "priority": "high",
                "idempotency_key": uuid.uuid4().hex,
            },
        )
        assert resp.status == 202, await resp.text()


async def test_a_confirmed_booking_sends_one_email_one_sms_and_one_in_app_notice_charging_once(
    rig: Rig,
):
    world = await _world(rig, language="hi")
    client = await connect(rig.hub, user_token(rig.hub, world))
    try:
        booking = await confirmed_booking(rig.hub, rig.db, world)
        await eventually(
            lambda: "booking_confirmed" in [n["type"] for n in client.received("notification")]
        )
        found = await _settled(rig, world, 2)
        assert sorted((d.channel, d.status) for d in found) == [("email", "sent"), ("sms", "sent")]
        assert all(d.kind == "booking_confirmed" and d.attempts == 1 for d in found)

        email = await _email_of(rig, world.user_ids[0])
        mails = [m for m in rig.smtp.messages if email in m.rcpt_tos]
        assert len(mails) == 1
        subject = str(mails[0].message["Subject"])
        assert any("\u0900" <= ch <= "\u097f" for ch in subject), subject  # Hindi
        assert mails[0].message.is_multipart()
        phone = _phone_digits(await _phone_of(rig, world.user_ids[0]))
        sms = [m for m in await _received(rig, "sms") if m["to"] == phone]
        assert len(sms) == 1
        assert sms[0]["dlt_template_id"].isdigit() and len(sms[0]["dlt_template_id"]) == 19
        assert booking[:8] in sms[0]["text"] or sms[0]["variables"]
        assert [m for m in await _received(rig, "whatsapp") if phone in m.get("to", "")] == []

        assert await _credits(rig, world, "email") == (9, 0)
        assert await _credits(rig, world, "sms") == (9, 0)
        notes = [n for n in client.received("notification") if n["type"] == "booking_confirmed"]
        assert len(notes) == 1
    finally:
        await client.close()


async def test_a_provider_failing_twice_then_answering_sends_once_after_two_retries(rig: Rig):
    world = await _world(rig)
    await _fault(rig, fail_next=2, status=500, channel="sms")
    await confirmed_booking(rig.hub, rig.db, world)
    found = await _settled(rig, world, 2)
    sms = next(d for d in found if d.channel == "sms")
    assert (sms.status, sms.attempts) == ("sent", 3)
    assert sms.last_error is not None and "provider_unavailable" in sms.last_error
    phone = _phone_digits(await _phone_of(rig, world.user_ids[0]))
    assert len([m for m in await _received(rig, "sms") if m["to"] == phone]) == 1
    assert await _credits(rig, world, "sms") == (9, 0)


async def test_a_permanent_refusal_is_dead_and_costs_nothing(rig: Rig):
    world = await _world(rig)
    await _fault(rig, fail_next=1, status=400, channel="sms")
    await confirmed_booking(rig.hub, rig.db, world)
    found = await _settled(rig, world, 2)
    sms = next(d for d in found if d.channel == "sms")
    assert (sms.status, sms.attempts) == ("dead", 1)
    assert "provider_rejected" in (sms.last_error or "")
    assert await _credits(rig, world, "sms") == (10, 0)  # reserved, then voided
    assert await _credits(rig, world, "email") == (9, 0)


async def test_no_credits_skips_the_sms_keeps_the_in_app_notice_and_alerts_admins_once(rig: Rig):
    world = await _world(rig, credits={"email": 10})
    admin = await make_user(rig.db, tenant_id=world.tenant_id, role="tenant_admin")
    admin_socket = await connect(
        rig.hub, token_for(rig.hub, admin, world.tenant_id, "tenant_admin")
    )
    client = await connect(rig.hub, user_token(rig.hub, world))
    try:
        await confirmed_booking(rig.hub, rig.db, world)
        found = await _settled(rig, world, 2)
        assert {d.channel: d.status for d in found} == {
            "email": "sent",
            "sms": "skipped_insufficient_credits",
        }
        await eventually(
            lambda: "booking_confirmed" in [n["type"] for n in client.received("notification")]
        )
        await eventually(
            lambda: [n["type"] for n in admin_socket.received("notification")] == ["credits_low"]
        )
        # A second message without credits does not alert again the same day.
        await _notice(rig, world, "Second")
        await eventually(lambda: len(client.received("notification")) >= 2)
        await asyncio.sleep(0.5)
        assert [n["type"] for n in admin_socket.received("notification")] == ["credits_low"]
    finally:
        await client.close()
        await admin_socket.close()


async def test_a_sender_killed_after_claiming_is_replaced_after_its_lease_and_sends_once(
    rig: Rig,
):
    world = await _world(rig)
    worker = rig.hub.app[keys.DELIVERIES]
    await worker.stop()  # the hub's sender "dies"; deliveries wait in PostgreSQL
    try:
        await _notice(rig, world, "Lease")
        deadline = asyncio.get_running_loop().time() + 10
        while not await _deliveries(rig, world):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        async with rig.db.acquire() as conn:  # a sender claims it, then is killed
            claimed = await deliveries_db.claim_due(conn, limit=10, lease_secs=1.5)
        assert [d.channel for d in claimed] == ["email"]
    finally:
        replacement = DeliveryWorker(
            db=rig.db,
            wallets=rig.hub.app[keys.WALLETS],
            channels=build_channels(rig.settings),
            max_attempts=3,
            backoff_base_secs=0.2,
            backoff_max_secs=0.5,
            lease_secs=2.0,
            poll_secs=0.1,
        )
        await replacement.start()
        rig.workers.append(replacement)
    [email] = await _settled(rig, world, 1)
    assert (email.status, email.attempts) == ("sent", 2)
    address = await _email_of(rig, world.user_ids[0])
    assert len([m for m in rig.smtp.messages if address in m.rcpt_tos]) == 1
    assert await _credits(rig, world, "email") == (9, 0)


async def test_dead_deliveries_are_sent_again_by_the_cli_and_the_admin_route(rig: Rig):
    world = await _world(rig)
    await _fault(rig, fail_next=1, status=400, channel="sms")
    await confirmed_booking(rig.hub, rig.db, world)
    found = await _settled(rig, world, 2)
    dead = next(d for d in found if d.channel == "sms")
    assert dead.status == "dead"

    env = {**os.environ, "DATABASE_URL": rig.dsn}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub.cli", "outbox", "retry", "--id", str(dead.id)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "requeued": 1,
        "ids": [str(dead.id)],
    }
    found = await _settled(rig, world, 2)
    sms = next(d for d in found if d.channel == "sms")
    assert (sms.status, sms.attempts) == ("sent", 1)
    assert await _credits(rig, world, "sms") == (9, 0)

    admin = await make_user(rig.db, tenant_id=world.tenant_id, role="tenant_admin")
    async with aiohttp.ClientSession(
        headers=bearer(token_for(rig.hub, admin, world.tenant_id, "tenant_admin"))
    ) as http:
        listed = await http.get(f"{rig.hub.url}/api/v1/admin/deliveries", params={"status": "sent"})
        assert len((await listed.json())["deliveries"]) == 2
        again = await http.post(
            f"{rig.hub.url}/api/v1/admin/deliveries/requeue", json={"ids": [str(sms.id)]}
        )
        assert (await again.json()) == {"requeued": []}  # only dead/failed/skipped ones
        bad = await http.get(f"{rig.hub.url}/api/v1/admin/deliveries", params={"status": "x"})
        assert bad.status == 422


async def test_preferences_choose_channels_and_quiet_hours_hold_back_normal_priority(rig: Rig):
    world = await _world(rig)
    token = user_token(rig.hub, world)
    async with aiohttp.ClientSession(headers=bearer(token)) as http:
        resp = await http.put(
            f"{rig.hub.url}/api/v1/me/notification-preferences",
            json={"types": {"*": ["in_app", "email"], "system": ["in_app"]}},
        )
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["types"]["system"] == ["in_app"]
        bad = await http.put(
            f"{rig.hub.url}/api/v1/me/notification-preferences",
            json={"types": {"*": ["pigeon"]}},
        )
        assert bad.status == 422
    await _notice(rig, world, "Quiet")  # system: in-app only
    await confirmed_booking(rig.hub, rig.db, world)  # booking_confirmed: email only
    found = await _settled(rig, world, 1)
    assert [(d.kind, d.channel, d.status) for d in found] == [
        ("booking_confirmed", "email", "sent")
    ]
