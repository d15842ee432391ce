"""Scheduled messages through the hub: booking reminders planned with the confirmation, sent
once when due, cancelled with the booking, re-planned when it is rescheduled; remedy plans in
the tenant's local time; claim loops racing on one database."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from hub.reminders import ReminderLoop
from storage import reminders as store
from tests.support import (
    Client,
    Hub,
    World,
    bearer,
    confirmed_booking,
    connect,
    create_database,
    eventually,
    make_world,
    staff_token,
    subscribe,
    user_token,
)

WITHIN_SECS = 20.0  # the hub's loop sleeps at most SEVA_REMINDER_POLL_SECS (5 s) per round


async def _messages(db: asyncpg.Pool, booking_id: str) -> list[asyncpg.Record]:
    async with db.acquire() as conn:
        return await conn.fetch(
            "SELECT id, kind, purpose, status, due_at, data FROM scheduled_messages "
            "WHERE booking_id = $1 ORDER BY due_at, id",
            UUID(booking_id),
        )


async def _starts_at(db: asyncpg.Pool, slot_id: UUID) -> datetime:
    async with db.acquire() as conn:
        return await conn.fetchval("SELECT starts_at FROM slots WHERE id = $1", slot_id)


async def _due_soon(db: asyncpg.Pool, message_id: UUID) -> None:
    """Make one message due a second from now (as if its time had come)."""
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE scheduled_messages SET due_at = now() + interval '1 second' WHERE id = $1",
            message_id,
        )


def _notes(client: Client, kind: str) -> list[dict[str, Any]]:
    return [n for n in client.received("notification") if n["type"] == kind]


async def _outbox_rows(db: asyncpg.Pool, message_ids: list[UUID]) -> int:
    async with db.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM outbox_events WHERE dedupe_key = ANY($1::text[])",
            [store.message_dedupe_key(m) for m in message_ids],
        )


async def test_a_confirmed_booking_gets_reminders_24_and_1_hour_before_its_slot(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, users=2)
    booking = await confirmed_booking(hub, db, world)
    starts = await _starts_at(db, world.slot_ids[0])
    rows = await _messages(db, booking)
    assert [(r["kind"], r["purpose"], r["status"]) for r in rows] == [
        ("booking_reminder", "booking", "scheduled")
    ] * 2
    assert [r["due_at"] for r in rows] == [
        starts - timedelta(hours=24),
        starts - timedelta(hours=1),
    ]

    url = f"{hub.url}/api/v1/bookings/{booking}/reminders"
    for token, status in (
        (user_token(hub, world, 0), 200),
        (staff_token(hub, world), 200),
        (user_token(hub, world, 1), 404),  # another user of the tenant: not revealed
    ):
        async with aiohttp.ClientSession(headers=bearer(token)) as http, http.get(url) as resp:
            assert resp.status == status, await resp.text()
            if status == 200:
                listed = (await resp.json())["reminders"]
                assert [r["id"] for r in listed] == [str(r["id"]) for r in rows]


async def test_a_due_reminder_reaches_the_owner_once(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    day_before, hour_before = await _messages(db, booking)
    owner = await connect(hub, user_token(hub, world))
    try:
        await _due_soon(db, hour_before["id"])
        await eventually(lambda: len(_notes(owner, "booking_reminder")) == 1, within=WITHIN_SECS)
        note = _notes(owner, "booking_reminder")[0]
        assert note["data"]["booking_id"] == booking
        assert note["data"]["scheduled_message_id"] == str(hour_before["id"])
        assert note["data"]["before_mins"] == 60
        await asyncio.sleep(1.5)  # further rounds send nothing more
        assert len(_notes(owner, "booking_reminder")) == 1
    finally:
        await owner.close()
    statuses = {r["id"]: r["status"] for r in await _messages(db, booking)}
    assert statuses == {day_before["id"]: "scheduled", hour_before["id"]: "sent"}
    assert await _outbox_rows(db, [hour_before["id"]]) == 1


async def _reschedule(
    http: aiohttp.ClientSession, hub: Hub, booking: str, slot_id: UUID, key: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{hub.url}/api/v1/bookings/{booking}/reschedule",
        json={"slot_id": str(slot_id), "idempotency_key": key},
    ) as resp:
        return resp.status, await resp.json()


async def test_a_rescheduled_booking_moves_its_places_and_its_reminders_to_the_new_slot(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, capacity=1, slots=2, users=2)
    old_slot, new_slot = world.slot_ids
    booking = await confirmed_booking(hub, db, world)
    old_reminders = await _messages(db, booking)
    owner = await connect(hub, user_token(hub, world))
    watcher = await connect(hub, user_token(hub, world, 1))
    try:
        seq = (await subscribe(watcher, world))["seq"]
        async with aiohttp.ClientSession(headers=bearer(user_token(hub, world))) as http:
            status, moved = await _reschedule(http, hub, booking, new_slot, "move-1")
            assert status == 200, moved
            assert moved["from_slot_id"] == str(old_slot) and moved["slot_id"] == str(new_slot)
            # A retry answers the same move; the key for another slot is a conflict.
            assert await _reschedule(http, hub, booking, new_slot, "move-1") == (200, moved)
            status, refused = await _reschedule(http, hub, booking, old_slot, "move-1")
            assert status == 409
            assert refused["error"]["details"]["reason"] == "exists_with_different_fields"

        await eventually(lambda: len(watcher.deltas) >= 2)
        assert [(d["seq"], d["slots"]) for d in watcher.deltas[:2]] == [
            (seq + 1, [{"slot_id": str(old_slot), "available": 1}]),
            (seq + 2, [{"slot_id": str(new_slot), "available": 0}]),
        ]
        async with db.acquire() as conn:
            assert await conn.fetchval(
                "SELECT slot_id FROM holds WHERE id = $1", UUID(booking)
            ) == (new_slot)
            counts = await conn.fetch(
                "SELECT id, confirmed_qty FROM slots WHERE id = ANY($1::uuid[])", world.slot_ids
            )
        assert {r["id"]: r["confirmed_qty"] for r in counts} == {old_slot: 0, new_slot: 1}

        rows = await _messages(db, booking)
        cancelled = [r for r in rows if r["status"] == "cancelled"]
        planned = [r for r in rows if r["status"] == "scheduled"]
        assert {r["id"] for r in cancelled} == {r["id"] for r in old_reminders}
        starts = await _starts_at(db, new_slot)
        assert [r["due_at"] for r in planned] == [
            starts - timedelta(hours=24),
            starts - timedelta(hours=1),
        ]
        # The old reminders' time comes and goes: they never fire; the new one does.
        async with db.acquire() as conn:
            await conn.execute(
                "UPDATE scheduled_messages SET due_at = now() - interval '1 second' "
                "WHERE id = ANY($1::uuid[])",
                [r["id"] for r in cancelled],
            )
        await _due_soon(db, planned[1]["id"])
        await eventually(lambda: len(_notes(owner, "booking_reminder")) == 1, within=WITHIN_SECS)
        assert _notes(owner, "booking_reminder")[0]["data"]["slot_id"] == str(new_slot)
        await eventually(lambda: len(_notes(owner, "booking_rescheduled")) == 1)
        assert _notes(owner, "booking_rescheduled")[0]["data"]["slot_id"] == str(new_slot)
        await asyncio.sleep(1.5)
        assert len(_notes(owner, "booking_reminder")) == 1
        assert await _outbox_rows(db, [r["id"] for r in cancelled]) == 0

        # Another user's booking in the freed slot cannot move into the full one, nor can a
        # stranger move someone else's booking.
        second = await confirmed_booking(hub, db, world, index=1)
        async with aiohttp.ClientSession(headers=bearer(user_token(hub, world, 1))) as http:
            status, full = await _reschedule(http, hub, second, new_slot, "move-2")
            assert status == 409 and full["error"]["code"] == "sold_out", full
            status, theirs = await _reschedule(http, hub, booking, old_slot, "move-3")
            assert status == 403, theirs
    finally:
        await owner.close()
        await watcher.close()


async def test_staff_may_reschedule_and_another_tenants_slot_is_not_found(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db, slots=2)
    other = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    async with aiohttp.ClientSession(headers=bearer(staff_token(hub, world))) as http:
        status, body = await _reschedule(http, hub, booking, other.slot_ids[0], "x-1")
        assert status == 404 and body["error"]["code"] == "not_found"
        status, body = await _reschedule(http, hub, booking, world.slot_ids[1], "x-1")
        assert status == 200 and body["slot_id"] == str(world.slot_ids[1])
    async with aiohttp.ClientSession(headers=bearer(user_token(hub, other))) as http:
        status, body = await _reschedule(http, hub, booking, other.slot_ids[0], "x-2")
        assert status == 404


async def test_cancelling_a_booking_cancels_its_reminders(hub: Hub, db: asyncpg.Pool):
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    async with aiohttp.ClientSession(headers=bearer(staff_token(hub, world))) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/bookings/{booking}/reminders",
            json=_remedy(days=2, key="r-cancel"),
        )
        assert resp.status == 201, await resp.text()
    assert [r["status"] for r in await _messages(db, booking)] == ["scheduled"] * 4
    async with aiohttp.ClientSession(headers=bearer(user_token(hub, world))) as http:
        resp = await http.post(
            f"{hub.url}/api/v1/bookings/{booking}/cancel", json={"refund_to": "wallet"}
        )
        assert resp.status == 200, await resp.text()
    assert [r["status"] for r in await _messages(db, booking)] == ["cancelled"] * 4


def _remedy(*, days: int, key: str, daily_at: str = "07:30") -> dict[str, Any]:
    return {
        "kind": "remedy",
        "title": "Chant the Hanuman Chalisa",
        "body": "Eleven times, facing east.",
        "daily_at": daily_at,
        "days": days,
        "idempotency_key": key,
    }


async def test_a_three_day_remedy_plan_is_due_at_the_tenants_local_time_and_sent_to_the_owner(
    hub: Hub, db: asyncpg.Pool
):
    world = await make_world(db)
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE tenants SET timezone = 'Asia/Kolkata' WHERE id = $1", world.tenant_id
        )
    booking = await confirmed_booking(hub, db, world)
    url = f"{hub.url}/api/v1/bookings/{booking}/reminders"
    before = datetime.now(UTC)
    async with aiohttp.ClientSession(headers=bearer(staff_token(hub, world))) as http:
        resp = await http.post(url, json=_remedy(days=3, key="remedy-1"))
        assert resp.status == 201, await resp.text()
        plan = (await resp.json())["reminders"]
        again = await http.post(url, json=_remedy(days=3, key="remedy-1"))
        assert again.status == 200 and (await again.json())["reminders"] == plan
        other = await http.post(url, json=_remedy(days=4, key="remedy-1"))
        assert other.status == 409, await other.text()
        nudge_at = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
        follow_up = await http.post(
            url,
            json={
                "kind": "follow_up",
                "title": "How are you feeling?",
                "body": "Book a follow-up consultation.",
                "at": nudge_at.isoformat(),
                "idempotency_key": "nudge-1",
            },
        )
        assert follow_up.status == 201, await follow_up.text()
        assert [r["due_at"] for r in (await follow_up.json())["reminders"]] == [
            nudge_at.isoformat()
        ]
    async with aiohttp.ClientSession(headers=bearer(user_token(hub, world))) as http:
        refused = await http.post(url, json=_remedy(days=1, key="mine"))
        assert refused.status == 403  # planning is for the tenant's staff

    ist = ZoneInfo("Asia/Kolkata")
    local = [datetime.fromisoformat(r["due_at"]).astimezone(ist) for r in plan]
    assert [(t.hour, t.minute) for t in local] == [(7, 30)] * 3
    assert [(b.date() - a.date()).days for a, b in itertools.pairwise(local)] == [1, 1]
    assert before < local[0] <= before + timedelta(days=1)
    assert {(r["kind"], r["purpose"], r["status"]) for r in plan} == {
        ("system", "remedy", "scheduled")
    }
    rows = await _messages(db, booking)
    assert sorted(r["purpose"] for r in rows) == ["booking"] * 2 + ["follow_up"] + ["remedy"] * 3

    owner = await connect(hub, user_token(hub, world))
    try:
        await _due_soon(db, UUID(plan[0]["id"]))
        await eventually(lambda: len(_notes(owner, "system")) == 1, within=WITHIN_SECS)
        note = _notes(owner, "system")[0]
        assert note["title"] == "Chant the Hanuman Chalisa"
        assert note["body"] == "Eleven times, facing east."
        assert note["data"]["day"] == 1 and note["data"]["booking_id"] == booking
    finally:
        await owner.close()


async def _due_messages(db: asyncpg.Pool, world: World, count: int) -> list[UUID]:
    async with db.acquire() as conn:
        rows, made = await store.plan_messages(
            conn,
            tenant_id=world.tenant_id,
            user_id=world.user_ids[0],
            booking_id=None,
            kind="system",
            purpose="follow_up",
            planned=[
                store.PlannedMessage(
                    dedupe_key=f"race:{uuid.uuid4()}",
                    due_at=datetime.now(UTC) - timedelta(seconds=1),
                    data={"title": f"nudge {i}", "body": "race"},
                )
                for i in range(count)
            ],
        )
    assert made == count
    return [r.id for r in rows]


async def test_two_claim_loops_racing_send_each_reminder_once_and_a_claim_that_died_is_retried(
    pg_dsn: str,
):
    # A database of its own: the two loops below are the only ones claiming there.
    dsn = await create_database(pg_dsn)
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=4) for _ in range(2)]
    try:
        world = await make_world(pools[0])
        ids = await _due_messages(pools[0], world, 60)

        # A hub that dies mid-claim: its transaction never commits, the rows stay scheduled.
        async with pools[0].acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            assert await store.send_due(conn, limit=10) == (10, 0)
            await tx.rollback()
        assert await _outbox_rows(pools[0], ids) == 0

        loops = [ReminderLoop(db=p, poll_secs=1.0, batch=7) for p in pools]

        async def drain(loop: ReminderLoop) -> None:
            while await loop.send_due_once():
                pass

        # Both loops claim at once, each from three tasks.
        await asyncio.gather(*(drain(loop) for loop in loops for _ in range(3)))

        async with pools[0].acquire() as conn:
            statuses = await conn.fetch(
                "SELECT status, count(*) AS n FROM scheduled_messages "
                "WHERE id = ANY($1::uuid[]) GROUP BY status",
                ids,
            )
            per_message = await conn.fetch(
                "SELECT dedupe_key, count(*) AS n FROM outbox_events "
                "WHERE dedupe_key = ANY($1::text[]) GROUP BY dedupe_key",
                [store.message_dedupe_key(m) for m in ids],
            )
        assert {r["status"]: r["n"] for r in statuses} == {"sent": 60}
        assert len(per_message) == 60 and {r["n"] for r in per_message} == {1}
        assert sum(loop.sent for loop in loops) == 60
        assert all(loop.sent > 0 for loop in loops), [loop.sent for loop in loops]
    finally:
        for pool in pools:
            await pool.close()
