"""The Node.js client example (deploy/examples/node-client/client.mjs, official
socket.io-client) against a real hub: REST login, subscribe, hold, a forced disconnect during
which a Python client changes the slot, recovery with ``since`` (the missed delta replayed, no
gap), automatic reconnection, release."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg

from hub import keys
from tests.node_support import (
    NODE_CLIENT_DIR,
    ensure_npm_packages,
    json_lines,
    node_path,
    run_node,
    step,
)
from tests.support import Hub, connect, make_world, user_token

CAPACITY = 5
PASSWORD = "node-client-password-1"
STEP_TIMEOUT_SECS = 30.0


async def _read_until(
    stream: asyncio.StreamReader, wanted: str, seen: list[dict[str, Any]]
) -> dict[str, Any]:
    while True:
        raw = await asyncio.wait_for(stream.readline(), STEP_TIMEOUT_SECS)
        assert raw, f"the client ended before {wanted!r}: {seen}"
        line = raw.decode().strip()
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        seen.append(event)
        assert event["step"] != "failed", event
        if event["step"] == wanted:
            return event


async def test_node_client_holds_and_recovers_missed_deltas_after_a_forced_disconnect(
    hub: Hub, db: asyncpg.Pool
) -> None:
    ensure_npm_packages(NODE_CLIENT_DIR, "socket.io-client")
    world = await make_world(db, capacity=CAPACITY, slots=1, users=2)
    async with db.acquire() as conn:
        email = await conn.fetchval(
            "UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING email",
            hub.app[keys.PASSWORDS].hash(PASSWORD),
            world.user_ids[0],
        )
    slot_id = str(world.slot_ids[0])
    proc = await asyncio.create_subprocess_exec(
        node_path(),
        "client.mjs",
        "--url",
        hub.url,
        "--email",
        email,
        "--password",
        PASSWORD,
        "--resource-id",
        str(world.resource_id),
        "--date",
        world.date,
        "--slot-id",
        slot_id,
        "--pause-on-disconnect",
        cwd=NODE_CLIENT_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    seen: list[dict[str, Any]] = []
    other = await connect(hub, user_token(hub, world, 1))
    try:
        disconnected = await _read_until(proc.stdout, "disconnected", seen)
        # While the Node client is away, another (Python) client takes a place.
        taken = await other.call(
            "hold:create", {"slot_id": slot_id, "qty": 1, "idempotency_key": uuid.uuid4().hex}
        )
        assert taken["ok"], taken
        proc.stdin.write(b"resume\n")
        await proc.stdin.drain()
        rest, err = await asyncio.wait_for(proc.communicate(), STEP_TIMEOUT_SECS)
    finally:
        await other.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = seen + json_lines(rest.decode())
    assert proc.returncode == 0, f"client failed: {lines}\n{err.decode()[-2000:]}"

    assert step(lines, "logged_in")["user_id"] == str(world.user_ids[0])
    subscribed = step(lines, "subscribed")
    assert subscribed["mode"] == "snapshot"
    hold = step(lines, "hold")
    assert hold["status"] == "held" and hold["slot_id"] == slot_id
    assert hold["seq"] == subscribed["seq"] + 1 and hold["available"] == CAPACITY - 1
    assert disconnected["reason"] == "forced close"  # the transport closed under the client
    assert disconnected["last_seq"] == hold["seq"]

    recovered = step(lines, "recovered")
    assert recovered["mode"] == "replay" and recovered["since"] == hold["seq"]
    assert recovered["replayed"] == 1 and recovered["gap_free"] is True
    (missed,) = recovered["replayed_deltas"]
    assert missed["seq"] == hold["seq"] + 1
    assert missed["slots"] == [{"slot_id": slot_id, "available": CAPACITY - 2}]

    auto = step(lines, "reconnected_automatically")
    assert auto["mode"] == "replay" and auto["replayed"] == 0 and auto["since"] == missed["seq"]
    assert step(lines, "released")["status"] == "released"

    done = step(lines, "done")
    assert done["ok"] is True and done["gaps"] == []
    first = subscribed["seq"]
    assert done["seqs"] == list(range(first + 1, first + 1 + len(done["seqs"])))
    assert len(done["seqs"]) == 3  # our hold, the Python client's hold (replayed), our release
    assert done["connects"] == 3


async def test_node_client_on_its_own_fills_the_gap_itself_and_cleans_up(
    hub: Hub, db: asyncpg.Pool
) -> None:
    """How a person runs it (no --pause-on-disconnect): while disconnected it holds a second
    place over REST, replayed to it after the reconnect; both holds are released at the end."""
    ensure_npm_packages(NODE_CLIENT_DIR, "socket.io-client")
    world = await make_world(db, capacity=CAPACITY, slots=1, users=1)
    async with db.acquire() as conn:
        email = await conn.fetchval(
            "UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING email",
            hub.app[keys.PASSWORDS].hash(PASSWORD),
            world.user_ids[0],
        )
    code, out, err = await run_node(
        NODE_CLIENT_DIR / "client.mjs",
        *("--url", hub.url, "--email", email, "--password", PASSWORD),
        *("--resource-id", str(world.resource_id), "--date", world.date),
        cwd=NODE_CLIENT_DIR,
        timeout_secs=STEP_TIMEOUT_SECS,
    )
    lines = json_lines(out)
    assert code == 0, f"client failed: {lines}\n{err[-2000:]}"
    (missed,) = step(lines, "recovered")["replayed_deltas"]
    assert missed["slots"] == [{"slot_id": str(world.slot_ids[0]), "available": CAPACITY - 2}]
    done = step(lines, "done")
    assert done["ok"] is True and len(done["seqs"]) == 4  # two holds, two releases
    async with db.acquire() as conn:
        statuses = await conn.fetch(
            "SELECT status FROM holds WHERE slot_id = $1", world.slot_ids[0]
        )
    assert sorted(r["status"] for r in statuses) == ["released", "released"]
