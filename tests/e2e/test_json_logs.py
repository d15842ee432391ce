"""Log lines of a real hub are masked JSON with the request context: a login, a Socket.IO
hold, a gateway payment (webhooks included) and its SMS delivery; and a shard batch logs
under the request ids its commands came with."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import socketio

from actors.commands import RefreshTenantCommand
from actors.shard import InventoryShard
from hub import keys
from protocols.log_lines import CONTEXT_FIELDS, current_log_context, json_handler, log_context
from tests.observability_support import (
    Rig,
    configure_gateways,
    observed_hub,
    pay_by_gateway,
    world_with_phone_and_credits,
)
from tests.support import bearer, connect_url, eventually, make_world

pytestmark = pytest.mark.timeout(120)

PASSWORD = "Gaṅgā-Jal 2026 secret"


@pytest.fixture(scope="module")
async def rig(pg_dsn: str, ray_session: None, gateway_emulators: Any) -> AsyncIterator[Rig]:
    async with observed_hub(
        pg_dsn, gateway_emulators, socket_ping_interval_secs=1.0, socket_ping_timeout_secs=2.0
    ) as rig:
        yield rig


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the process logs at INFO (DEBUG for the socket gateway and the shards),
    through the hub's own handler (masking filter + JSON formatter)."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in ("hub.sockets", "actors")}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in saved[1]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def _parse(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    assert lines
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    for line in parsed:
        assert {"ts", "level", "logger", "message", *CONTEXT_FIELDS} <= set(line), line
    return parsed


async def test_a_login_a_hold_a_payment_and_an_sms_log_masked_json_with_request_ids(
    rig: Rig, log_lines: io.StringIO
):
    world, phone = await world_with_phone_and_credits(rig)
    await configure_gateways(rig, world)
    async with rig.db.acquire() as conn:
        await conn.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            world.user_ids[0],
            rig.hub.app[keys.PASSWORDS].hash(PASSWORD),
        )
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{rig.hub.url}/api/v1/auth/login",
            json={"phone": phone[3:], "password": PASSWORD},
            headers={"X-Request-Id": "obs-login-1"},
        )
        assert resp.status == 200, await resp.text()
        tokens = await resp.json()
        me = await http.get(
            f"{rig.hub.url}/api/v1/me",
            headers={**bearer(tokens["access_token"]), "X-Request-Id": "obs-me-1"},
        )
        assert me.status == 200
    access = tokens["access_token"]

    client = await connect_url(rig.hub.url, access)
    # A client that (wrongly) also puts its token in the URL: the access log must not keep it.
    leaky = socketio.AsyncClient(reconnection=False)
    await leaky.connect(
        f"{rig.hub.url}?token={access}", auth={"token": access}, transports=["polling"]
    )
    try:
        ack = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
        )
        assert ack["ok"], ack
        refused = await client.call("hold:create", {"qty": "many"})
        assert refused["ok"] is False
    finally:
        await leaky.disconnect()
        await client.close()
    paid = await pay_by_gateway(rig, world, ack["data"]["hold_id"], request_id="obs-pay-1")
    assert paid["outcome"] == "booking_confirmed"

    def sms_logged() -> bool:
        text = log_lines.getvalue()
        return "via sms to" in text and "via email to" in text

    await eventually(sms_logged, within=20)
    lines = _parse(log_lines)
    text = log_lines.getvalue()

    # Nothing secret in any line: tokens, the password, the full phone number.
    for secret in (access, tokens["refresh_token"], PASSWORD, phone, phone[3:]):
        assert secret not in text, secret
    assert access.split(".")[1] not in text  # not even the JWT's claims part

    def access_line(path: str, request_id: str) -> dict[str, Any]:
        found = [
            line
            for line in lines
            if line["logger"] == "aiohttp.access" and f" {path}" in line["message"]
        ]
        assert found, path
        [line] = [line for line in found if line["request_id"] == request_id]
        return line

    access_line("/api/v1/auth/login", "obs-login-1")
    access_line("/api/v1/payments/intents", "obs-pay-1")
    polled = [
        line
        for line in lines
        if line["logger"] == "aiohttp.access" and "/socket.io/" in line["message"]
    ]
    assert any("token=[masked]" in line["message"] for line in polled)

    # Socket events carry the socket, the user and the tenant, and a request id of their own.
    events = [line for line in lines if line["message"].startswith("client event hold:create")]
    assert [line["message"] for line in events] == [
        "client event hold:create: ok",
        "client event hold:create: invalid",
    ]
    for line in events:
        assert line["socket_id"] and line["request_id"]
        assert line["user_id"] == str(world.user_ids[0])
        assert line["tenant_id"] == str(world.tenant_id)
        assert line["event"] == "hold:create"
    assert events[0]["request_id"] != events[1]["request_id"]

    # Delivery lines keep only the phone's last two digits (a booking sends more than one).
    sms_lines = [line for line in lines if "via sms to" in line["message"]]
    assert sms_lines
    for sms in sms_lines:
        assert f"to [phone ******{phone[-2:]}]: sent" in sms["message"]
        assert sms["tenant_id"] == str(world.tenant_id)


async def test_a_shard_batch_logs_under_the_request_ids_of_its_commands(
    migrated_dsn: str, db: Any, log_lines: io.StringIO
):
    """The shard as the pool calls it (``apply(commands, contexts)``), in-process: what it
    logs while applying carries the callers' request ids (and the tenant they share)."""
    world = await make_world(db)
    shard = InventoryShard(shard_index=0, shard_count=1, dsn=migrated_dsn)
    contexts = []
    for request_id in ("req-a", "req-b"):
        with log_context(request_id=request_id, tenant_id=world.tenant_id):
            contexts.append(current_log_context())
    try:
        await shard.apply([RefreshTenantCommand(world.tenant_id)] * 2, contexts)
        await shard.apply([RefreshTenantCommand(world.tenant_id)], contexts[:1])
    finally:
        await shard.close()
    batches = [line for line in _parse(log_lines) if "applying" in line["message"]]
    assert [(b["request_ids"], b["request_id"]) for b in batches] == [
        ("req-a,req-b", None),
        ("req-a", "req-a"),
    ]
    assert all(b["tenant_id"] == str(world.tenant_id) for b in batches)
    assert all(b["logger"] == "actors.shard_host" for b in batches)
