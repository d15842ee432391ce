"""``seva verify`` passes on a world the real hub made, and names every invariant broken on
purpose (exit status 1, the last line one JSON object)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from storage.verify import verify_all
from tests.conftest import hub_settings, start_hub
from tests.support import World, confirmed_booking, create_database, make_world

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Scratch:
    dsn: str
    world: World
    hold_id: str


@pytest.fixture(scope="module")
async def scratch(pg_dsn: str, ray_session: None) -> AsyncIterator[Scratch]:
    """A database of its own with one booking paid from the wallet through the real hub;
    the hub is stopped before the test breaks anything, so no sweeper repairs it."""
    dsn = await create_database(pg_dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3)
    hub, runner = await start_hub(hub_settings(), dsn)
    try:
        world = await make_world(pool, capacity=5)
        hold_id = await confirmed_booking(hub, pool, world)
    finally:
        await runner.cleanup()
        await pool.close()
    yield Scratch(dsn=dsn, world=world, hold_id=hold_id)


def _seva_verify(dsn: str) -> tuple[int, str, dict[str, Any]]:
    env = {**os.environ, "DATABASE_URL": dsn}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, done.stdout, json.loads(done.stdout.strip().splitlines()[-1])


async def _break_everything(conn: asyncpg.Connection, s: Scratch) -> None:
    world = s.world
    user_id = world.user_ids[0]
    # Slots: a counter that no longer matches its holds (the CHECK forbids real overselling).
    await conn.execute("UPDATE slots SET held_qty = held_qty + 1 WHERE id = $1", world.slot_ids[0])
    # Streams: an availability event two past the stream's last (seq gap); a feed event above
    # its stream's head.
    stream, top = await conn.fetchrow(
        "SELECT stream, max(seq) FROM availability_events GROUP BY stream LIMIT 1"
    )
    await conn.execute(
        "INSERT INTO availability_events (stream, seq, tenant_id, payload) "
        "VALUES ($1, $2, $3, '{}')",
        stream,
        top + 2,
        world.tenant_id,
    )
    await conn.execute(
        "INSERT INTO feed_heads (stream, tenant_id, seq) VALUES ('user:broken', $1, 1)",
        world.tenant_id,
    )
    await conn.execute(
        "INSERT INTO feed_events (stream, seq, tenant_id, room, event, payload, published_at) "
        "VALUES ('user:broken', 1, $1, 'r', 'e', '{}', now()), "
        "       ('user:broken', 2, $1, 'r', 'e', '{}', now())",
        world.tenant_id,
    )
    # Ledger: a rupee that appears from nowhere in the user's wallet.
    await conn.execute(
        "UPDATE ledger_accounts SET credits_posted = credits_posted + 100 "
        "WHERE code = 'user_wallet' AND owner_user_id = $1",
        user_id,
    )
    # Payments: a refund above its capture (its counter was never raised, as the CHECK on
    # refunded_paise would refuse it).
    intent_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO payment_intents (id, tenant_id, user_id, purpose, amount_paise, status, "
        "outcome, captured_paise, idempotency_key) VALUES ($1, $2, $3, 'wallet_topup', 1000, "
        "'captured', 'refunded_unfulfillable', 1000, 'broken')",
        intent_id,
        world.tenant_id,
        user_id,
    )
    await conn.execute(
        "INSERT INTO payment_refunds (id, intent_id, tenant_id, amount_paise, status, "
        "idempotency_key) VALUES ($1, $2, $3, 1500, 'processed', 'broken')",
        uuid.uuid4(),
        intent_id,
        world.tenant_id,
    )
    # Payments: a top-up claiming to have confirmed a booking; a capture left without an
    # outcome for an hour.
    await conn.execute(
        "INSERT INTO payment_intents (id, tenant_id, user_id, purpose, amount_paise, status, "
        "outcome, captured_paise, idempotency_key, updated_at) VALUES "
        "($1, $3, $4, 'wallet_topup', 500, 'captured', 'booking_confirmed', 500, 'unbacked', "
        " now()), "
        "($2, $3, $4, 'wallet_topup', 500, 'captured', NULL, 500, 'undecided', "
        " now() - interval '1 hour')",
        uuid.uuid4(),
        uuid.uuid4(),
        world.tenant_id,
        user_id,
    )
    # Outbox: an event nobody dispatched for an hour, a delivery stuck in `sending` an hour
    # past its lease, a feed event never published.
    outbox_id = await conn.fetchval(
        "INSERT INTO outbox_events (user_id, tenant_id, type, dedupe_key, created_at) "
        "VALUES ($1, $2, 'system', $3, now() - interval '1 hour') RETURNING id",
        user_id,
        world.tenant_id,
        f"broken:{uuid.uuid4()}",
    )
    await conn.execute(
        "INSERT INTO deliveries (id, outbox_id, tenant_id, user_id, channel, kind, language, "
        "recipient, data, status, lease_until) VALUES ($1, $2, $3, $4, 'email', 'system', 'en', "
        "'a@b.test', '{}', 'sending', now() - interval '1 hour')",
        uuid.uuid4(),
        outbox_id,
        world.tenant_id,
        user_id,
    )
    await conn.execute(
        "INSERT INTO feed_events (stream, seq, tenant_id, room, event, payload, created_at) "
        "VALUES ('user:stuck', 1, $1, 'r', 'e', '{}', now() - interval '1 hour')",
        world.tenant_id,
    )
    await conn.execute(
        "INSERT INTO feed_heads (stream, tenant_id, seq) VALUES ('user:stuck', $1, 1)",
        world.tenant_id,
    )


BROKEN = {
    "slot_counters_match_holds",
    "availability_seq_gap_free",
    "feed_seq_gap_free",
    "ledger_balances_match_entries",
    "ledger_debits_equal_credits",
    "refunds_within_capture",
    "refunded_matches_refunds",
    "payment_outcomes_fulfilled",
    "captured_payments_have_outcome",
    "outbox_dispatched",
    "deliveries_settled",
    "feed_events_published",
}


async def test_a_clean_world_passes_and_each_broken_invariant_is_named(scratch: Scratch):
    status, out, clean = _seva_verify(scratch.dsn)
    assert status == 0, out
    assert clean["violations"] == 0, out
    assert all(c["ok"] for c in clean["checks"].values())
    assert set(clean["checks"]) >= BROKEN

    conn = await asyncpg.connect(scratch.dsn)
    try:
        await _break_everything(conn, scratch)
        report = await verify_all(conn)
    finally:
        await conn.close()
    failed = {name for name, c in report["checks"].items() if not c["ok"]}
    assert failed == BROKEN, report
    assert report["checks"]["slot_counters_match_holds"]["details"][0]["slot_id"] == str(
        scratch.world.slot_ids[0]
    )
    assert report["checks"]["feed_seq_gap_free"]["details"][0]["stream"] == "user:broken"
    assert report["checks"]["deliveries_settled"]["details"][0]["status"] == "sending"

    status, out, broken = _seva_verify(scratch.dsn)
    assert status == 1
    assert broken["violations"] == report["violations"] >= len(BROKEN)
    for name in BROKEN:
        assert broken["checks"][name]["ok"] is False
        assert f"FAIL {name}" in out
