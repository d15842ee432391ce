"""Every client → server Socket.IO event, fuzzed with Hypothesis from its pydantic model's JSON
schema: payloads the schema admits (random ids that point nowhere, and the test world's real
ids, dates and stream names) and near misses of them (a field dropped or retyped, unknown
fields, 200k-character strings, 400-deep nesting, NUL bytes, a non-object payload).

Every ack is ``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {code, message,
details}}`` with a code other than ``internal``; the socket stays connected and still answers;
and afterwards ``seva verify``'s invariants hold on the hub's database (nothing refused left a
partial write). Complements ``test_fuzz_events.py`` (random field soup, same for every event).

Deterministic in CI (fixed seed); ``SEVA_FUZZ_SEED=random`` explores, ``SEVA_FUZZ_SEED=<n>``
replays (the seed is printed), ``SEVA_FUZZ_EXAMPLES=<n>`` runs longer.
"""

from __future__ import annotations

from typing import Any

import pytest
import socketio
from pydantic import BaseModel

from hub import keys
from hub.sockets import EVENT_PERMISSIONS
from protocols.availability import stream_name
from tests.fuzz_strategies import examples_per_strategy, payloads, run_hypothesis, seed_from_env
from tests.fuzz_support import assert_error_envelope, assert_no_violations, fuzz_hub
from tests.support import (
    Client,
    Hub,
    admin_token,
    confirmed_booking,
    connect,
    fund_wallet,
    make_world,
)

# session:renew with a valid token would swap the socket's identity: generated tokens are
# random strings, refused as unauthorized, so it is fuzzed like every other event.
LIFECYCLE = {"connect", "disconnect"}
ACK_WITHIN_SECS = 10.0


def event_models(hub: Hub) -> dict[str, type[BaseModel]]:
    """The gateway's event → model registry (the one the AsyncAPI document is built from)."""
    return hub.app[keys.SOCKETS].client_events


@pytest.fixture(scope="module")
async def fuzzed(pg_dsn: str, ray_session: None) -> Any:
    async with fuzz_hub(pg_dsn) as (hub, pool, _dsn):
        yield hub, pool


async def test_every_registered_event_has_a_model_and_a_permission(fuzzed: Any) -> None:
    hub, _pool = fuzzed
    registered = set(hub.app[keys.SIO].handlers["/"]) - LIFECYCLE
    # Every handler on the server went through the gateway (validated, rate limited, checked).
    assert registered == set(event_models(hub)) == set(EVENT_PERMISSIONS)


async def test_schema_derived_payloads_get_ok_or_a_documented_error_and_leave_no_partial_write(
    fuzzed: Any,
) -> None:
    hub, pool = fuzzed
    run_seed = seed_from_env()
    examples = examples_per_strategy(40)
    print(f"fuzz seed: {run_seed} examples per event: {examples}")
    world = await make_world(pool, capacity=1000, slots=2, users=2)
    booking_id = await confirmed_booking(hub, pool, world)  # a booking is a confirmed hold
    wallet_id = await fund_wallet(hub, pool, world, 500_000, index=1)
    real: dict[str, list[Any]] = {
        "tenant_id": [str(world.tenant_id)],
        "library_id": [str(world.tenant_id)],
        "resource_id": [str(world.resource_id)],
        "court_id": [str(world.resource_id)],
        "slot_id": [str(s) for s in world.slot_ids],
        "hold_id": [booking_id],
        "booking_id": [booking_id],
        "wallet_id": [str(wallet_id)],
        "user_ids": [str(u) for u in (*world.user_ids, world.staff_id)],
        "date": [world.date],
        "stream": [stream_name(world.tenant_id, world.resource_id, world.day)],
    }
    real_ids = sorted({v for k, vs in real.items() if k not in ("date", "stream") for v in vs})
    token = await admin_token(hub, pool, world)
    sockets = [await connect(hub, token)]  # replaced when a failing example dropped it
    seen: dict[str, dict[str, int]] = {}
    try:
        for event, model in sorted(event_models(hub).items()):
            schema = model.model_json_schema()
            counts = seen.setdefault(event, {"valid_ok": 0, "valid_error": 0, "mutated_error": 0})

            async def check(
                example: tuple[str, Any], event: str = event, counts: dict[str, int] = counts
            ) -> None:
                if not sockets[-1].sio.connected:  # so that shrinking starts from a live socket
                    sockets.append(await connect(hub, token))
                kind, payload = example
                await _assert_answers(sockets[-1], event, kind, payload, run_seed, counts)

            await run_hypothesis(
                payloads(schema, real_ids=real_ids, real_values=real),
                check,
                max_examples=examples,
                run_seed=run_seed,
            )
            # Still connected and still this user, after everything this event was sent.
            assert len(sockets) == 1 and sockets[0].sio.connected, event
            alive = await sockets[0].call("notifications:list", {"limit": 1})
            assert alive["ok"], (event, alive)
    finally:
        for client in sockets:
            await client.close()
    print("acks per event:", seen)
    # The schema-valid half reached the handlers: some events answered ok to generated input.
    assert sum(c["valid_ok"] for c in seen.values()) > 0, seen
    await assert_no_violations(pool)


async def _assert_answers(
    client: Client, event: str, kind: str, payload: Any, run_seed: int, counts: dict[str, int]
) -> None:
    context = {"seed": run_seed, "event": event, "kind": kind, "payload": _short(payload)}
    try:
        ack = await client.call(event, payload, wait_secs=ACK_WITHIN_SECS)
    except socketio.exceptions.TimeoutError:
        raise AssertionError(f"no ack within {ACK_WITHIN_SECS}s: {context}") from None
    except socketio.exceptions.BadNamespaceError:
        raise AssertionError(f"socket dropped while sending: {context}") from None
    context["ack"] = _short(ack)
    assert client.sio.connected, f"socket dropped after answering: {context}"
    assert isinstance(ack, dict), context
    if ack.get("ok") is True:
        assert set(ack) <= {"ok", "data"}, context
        if kind == "valid":
            counts["valid_ok"] += 1
        return
    assert ack.get("ok") is False and set(ack) == {"ok", "error"}, context
    assert_error_envelope(ack["error"], context)
    if kind == "valid":
        counts["valid_error"] += 1
    else:
        counts["mutated_error"] += 1


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 600 else text[:600] + f"... ({len(text)} chars)"
