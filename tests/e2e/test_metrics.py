"""``GET /metrics`` on a real hub: each driven action moves its own series by the right amount
(holds over Socket.IO, an event refused, a duplicated webhook, a delivery), parsed with
prometheus_client's parser."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio

from hub.metrics import METRICS, HubMetrics
from storage.observability import outbox_backlogs
from tests.observability_support import (
    Rig,
    configure_gateways,
    emulator,
    observed_hub,
    pay_by_gateway,
    scrape,
    total,
    value,
    world_with_phone_and_credits,
)
from tests.support import connect, eventually, make_world, subscribe, user_token

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def rig(pg_dsn: str, ray_session: None, gateway_emulators: Any) -> AsyncIterator[Rig]:
    # A short ping interval: a long-polling client's disconnect waits for its pending poll.
    async with observed_hub(
        pg_dsn, gateway_emulators, socket_ping_interval_secs=1.0, socket_ping_timeout_secs=2.0
    ) as rig:
        yield rig


def test_two_apps_in_one_process_do_not_share_counters():
    first, second = HubMetrics(), HubMetrics()
    first.event_in("hold:create", "ok")
    assert first.events_in.labels("hold:create", "ok")._value.get() == 1
    assert second.events_in.labels("hold:create", "ok")._value.get() == 0
    assert first.registry is not second.registry


async def test_holds_and_a_refused_event_move_events_actor_latency_batches_and_connections(
    rig: Rig,
):
    world = await make_world(rig.db, capacity=10)
    token = user_token(rig.hub, world)
    before = await scrape(rig.hub)
    client = await connect(rig.hub, token)  # websocket
    polling = socketio.AsyncClient(reconnection=False)
    await polling.connect(rig.hub.url, auth={"token": token}, transports=["polling"])
    try:
        during = await scrape(rig.hub)
        assert value(during, "seva_socket_connections", transport="websocket") == 1
        assert value(during, "seva_socket_connections", transport="polling") == 1

        await subscribe(client, world)
        holds = []
        for _ in range(3):
            ack = await client.call(
                "hold:create",
                {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
            )
            assert ack["ok"], ack
            holds.append(ack["data"]["hold_id"])
        refused = await client.call("hold:create", {"slot_id": "not-a-uuid", "qty": 1})
        assert refused["ok"] is False and refused["error"]["code"] == "invalid"
        released = await client.call("hold:release", {"hold_id": holds[0]})
        assert released["ok"], released
        await eventually(lambda: len(client.deltas_for(client.deltas[0]["stream"])) >= 4)
    finally:
        await asyncio.wait_for(polling.disconnect(), 10)
        await asyncio.wait_for(client.close(), 10)
    after = await scrape(rig.hub)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("seva_socket_events_in_total", event="hold:create", outcome="ok") == 3
    assert moved("seva_socket_events_in_total", event="hold:create", outcome="invalid") == 1
    assert moved("seva_socket_events_in_total", event="hold:release", outcome="ok") == 1
    assert moved("seva_socket_events_in_total", event="availability:subscribe", outcome="ok") == 1
    # The refused payload never reached an actor: 3 creates and 1 release did.
    ops = {"pool": "inventory"}
    assert moved("seva_actor_call_seconds_count", operation="CreateHoldCommand", **ops) == 3
    assert moved("seva_actor_call_seconds_count", operation="ReleaseHoldCommand", **ops) == 1
    assert moved("seva_actor_call_seconds_sum", operation="CreateHoldCommand", **ops) > 0
    # Every command answered went in exactly one batch (one transaction).
    calls = total(after, "seva_actor_call_seconds_count", **ops) - total(
        before, "seva_actor_call_seconds_count", **ops
    )
    assert moved("seva_actor_batch_size_sum", pool="inventory") == calls
    assert 1 <= moved("seva_actor_batch_size_count", pool="inventory") <= calls
    # Four availability deltas (3 holds, 1 release) went out to the subscriber.
    assert moved("seva_socket_events_out_total", event="availability") >= 4
    assert value(after, "seva_socket_connections", transport="websocket") == 0
    assert value(after, "seva_socket_connections", transport="polling") == 0


async def test_a_duplicated_webhook_counts_one_accepted_and_the_copies_and_the_route_decision(
    rig: Rig,
):
    world, _ = await world_with_phone_and_credits(rig)
    await configure_gateways(rig, world)
    await emulator(rig, "cashfree", "webhooks/mode", {"duplicate": 3})
    try:
        client = await connect(rig.hub, user_token(rig.hub, world))
        try:
            ack = await client.call(
                "hold:create",
                {"slot_id": str(world.slot_ids[0]), "qty": 2, "idempotency_key": uuid.uuid4().hex},
            )
            assert ack["ok"], ack
        finally:
            await client.close()
        before = await scrape(rig.hub)
        paid = await pay_by_gateway(rig, world, ack["data"]["hold_id"])
        assert paid["gateway"] == "cashfree" and paid["outcome"] == "booking_confirmed"
        async with aiohttp.ClientSession() as http:
            forged = await http.post(
                f"{rig.hub.url}/api/v1/webhooks/razorpay/{world.tenant_id}", data=b"{}"
            )
            assert forged.status == 401
        state: dict[str, Any] = {}

        async def settle() -> bool:
            state["after"] = after = await scrape(rig.hub)
            got = value(after, "seva_webhooks_total", gateway="cashfree", result="duplicate")
            return (
                got - value(before, "seva_webhooks_total", gateway="cashfree", result="duplicate")
                >= 2
            )

        for _ in range(100):
            if await settle():
                break
            await _sleep()
        after = state["after"]
    finally:
        await emulator(rig, "cashfree", "webhooks/mode", {"duplicate": 1})

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("seva_webhooks_total", gateway="cashfree", result="accepted") == 1
    assert moved("seva_webhooks_total", gateway="cashfree", result="duplicate") == 2
    assert (
        total(after, "seva_webhooks_total", gateway="razorpay")
        - total(before, "seva_webhooks_total", gateway="razorpay")
        == 1
    )
    assert moved("seva_webhooks_total", gateway="razorpay", result="webhook_signature_invalid") == 1
    # ₹2,200 is cheaper on Cashfree: one attempt, chosen as the cheapest.
    assert moved("seva_payment_route_decisions_total", gateway="cashfree", reason="cheapest") == 1
    assert (
        total(after, "seva_payment_route_decisions_total")
        - total(before, "seva_payment_route_decisions_total")
        == 1
    )
    # The payment went through the wallet actors (the tenant's net and the gateway's fee).
    assert moved("seva_actor_batch_size_count", pool="wallet") >= 1


async def _settled_sent(rig: Rig) -> dict[str, int]:
    """Once no delivery of this hub's database is in flight: how many were sent, by channel."""
    for _ in range(300):
        async with rig.db.acquire() as conn:
            busy = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'sending', 'failed')"
            )
            if busy == 0:
                rows = await conn.fetch(
                    "SELECT channel, count(*) AS n FROM deliveries WHERE status = 'sent' "
                    "GROUP BY channel"
                )
                return {r["channel"]: r["n"] for r in rows}
        await _sleep()
    raise AssertionError("deliveries never settled")


async def test_a_confirmed_booking_counts_its_email_and_sms_deliveries(rig: Rig):
    world, _ = await world_with_phone_and_credits(rig)
    await configure_gateways(rig, world)
    sent_before = await _settled_sent(rig)
    before = await scrape(rig.hub)
    client = await connect(rig.hub, user_token(rig.hub, world))
    try:
        ack = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
        )
        assert ack["ok"], ack
    finally:
        await client.close()
    await pay_by_gateway(rig, world, ack["data"]["hold_id"])
    async with rig.db.acquire() as conn:
        for _ in range(300):
            mine = await conn.fetch(
                "SELECT channel, status FROM deliveries WHERE tenant_id = $1", world.tenant_id
            )
            if len(mine) >= 2 and all(r["status"] == "sent" for r in mine):
                break
            await _sleep()
    assert {r["channel"] for r in mine} == {"email", "sms"}
    sent_after = await _settled_sent(rig)
    after = await scrape(rig.hub)
    for channel in ("email", "sms"):
        counted = value(after, "seva_deliveries_total", channel=channel, outcome="sent") - value(
            before, "seva_deliveries_total", channel=channel, outcome="sent"
        )
        assert counted == sent_after.get(channel, 0) - sent_before.get(channel, 0) >= 1, channel
    # Read at scrape time: the pool, the outbox backlogs.
    settings_max = rig.hub.app[METRICS]._db.get_max_size()  # type: ignore[union-attr]
    assert value(after, "seva_db_pool_connections", state="max") == settings_max
    in_use = value(after, "seva_db_pool_connections", state="in_use")
    idle = value(after, "seva_db_pool_connections", state="idle")
    assert 1 <= in_use + idle <= settings_max
    for outbox in ("outbox_events", "feed_events"):
        assert ("seva_outbox_lag_seconds", frozenset({("outbox", outbox)})) in after
        assert value(after, "seva_outbox_lag_seconds", outbox=outbox) >= 0
        assert value(after, "seva_outbox_pending", outbox=outbox) >= 0


async def test_the_outbox_lag_is_the_age_of_the_oldest_waiting_row(rig: Rig):
    """Rows written inside a transaction that is rolled back (so no relay or worker ever sees
    them): an outbox event 90 s old and an SMS delivery due 60 s ago."""
    world, _ = await world_with_phone_and_credits(rig)
    tx_conn = await rig.db.acquire()
    try:
        tx = tx_conn.transaction()
        await tx.start()
        await tx_conn.execute(
            "INSERT INTO outbox_events (tenant_id, user_id, type, dedupe_key, created_at) "
            "VALUES ($1, $2, 'booking_confirmed', $3, now() - interval '90 seconds')",
            world.tenant_id,
            world.user_ids[0],
            f"metrics-test-{uuid.uuid4().hex}",
        )
        backlogs = {b.name: b for b in await outbox_backlogs(tx_conn)}
        await tx.rollback()
    finally:
        await rig.db.release(tx_conn)
    assert backlogs["outbox_events"].pending >= 1
    assert 90 <= backlogs["outbox_events"].oldest_age_secs < 600
    assert backlogs["feed_events"].oldest_age_secs >= 0


async def _sleep() -> None:
    await asyncio.sleep(0.1)
