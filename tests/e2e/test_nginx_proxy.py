"""deploy/nginx/nginx.conf in front of a real hub, with a real nginx.

The configuration is the deployed one with only the addresses changed (compose's service
names hub-a/hub-b do not resolve here, and the listen port must be free): upstream servers ->
the session hub, ``listen 8080`` -> a free loopback port, pid and logs -> a temporary
directory. Then real Socket.IO clients go through it over WebSocket (the Upgrade handshake is
proxied: nginx logs 101) and over HTTP long-polling, and REST answers.

Needs the ``nginx`` binary (Debian: ``apt-get install nginx-light``); skipped without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
import socketio

from hub.chaos.processes import free_port
from tests.conftest import hub_settings, start_hub
from tests.support import (
    Hub,
    World,
    connect_url,
    eventually,
    make_world,
    subscribe,
    user_token,
)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "nginx.conf"

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (apt-get install nginx-light)"
)


def local_conf(hub_addrs: tuple[str, str], port: int, run_dir: Path, *, sticky: bool) -> str:
    """The deployed configuration with only its addresses and file paths changed (and, for a
    control run, without ``ip_hash``)."""
    text = CONF.read_text()
    for name, addr in zip(("hub-a", "hub-b"), hub_addrs, strict=True):
        text, servers = re.subn(rf"server {name}:8080", f"server {addr}", text)
        assert servers == 1
    if not sticky:
        text, hashes = re.subn(r"\n\s*ip_hash;", "", text)
        assert hashes == 1
    text, listens = re.subn(r"listen 8080;", f"listen 127.0.0.1:{port};", text)
    assert listens == 1
    text = text.replace("pid /tmp/nginx.pid;", f"pid {run_dir}/nginx.pid;")
    text = text.replace("access_log /dev/stdout;", f"access_log {run_dir}/access.log;")
    text = text.replace("error_log /dev/stderr warn;", f"error_log {run_dir}/error.log warn;")
    return text


def write_conf(text: str, run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(text)
    return conf


@contextlib.asynccontextmanager
async def running_nginx(
    hubs: tuple[Hub, Hub], run_dir: Path, *, sticky: bool = True
) -> AsyncIterator[str]:
    """nginx with the deployed configuration in front of ``hubs``; yields its URL."""
    port = free_port()
    addrs = (urlsplit(hubs[0].url).netloc, urlsplit(hubs[1].url).netloc)
    conf = write_conf(local_conf(addrs, port, run_dir, sticky=sticky), run_dir)
    check = await asyncio.create_subprocess_exec(
        NGINX, "-t", "-p", str(run_dir), "-c", str(conf), stderr=asyncio.subprocess.PIPE
    )
    _, err = await check.communicate()
    assert check.returncode == 0, err.decode()
    proc = await asyncio.create_subprocess_exec(
        NGINX,
        "-p",
        str(run_dir),
        "-c",
        str(conf),
        "-g",
        "daemon off; error_log stderr warn;",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), 0.2):
                    break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("nginx did not listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


@pytest.fixture
async def nginx_url(hub: Hub, tmp_path: Path) -> AsyncIterator[str]:
    # Both upstream entries lead to the session hub (one Ray namespace, one set of shards).
    async with running_nginx((hub, hub), tmp_path) as url:
        yield url


async def test_rest_and_readiness_answer_through_nginx(nginx_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{nginx_url}/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok"}
        async with http.get(f"{nginx_url}/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ready"
        async with http.get(f"{nginx_url}/nginx-health") as resp:
            assert resp.status == 200


async def test_websocket_upgrades_through_nginx_and_deltas_flow_back(
    hub: Hub, db: asyncpg.Pool, nginx_url: str, tmp_path: Path
) -> None:
    world = await make_world(db, capacity=3, users=2)
    watcher = await connect_url(nginx_url, user_token(hub, world, 0))
    actor = await connect_url(nginx_url, user_token(hub, world, 1))
    try:
        assert watcher.sio.transport() == "websocket"
        snapshot = await subscribe(watcher, world)
        slot = str(world.slot_ids[0])
        ack = await actor.call(
            "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": uuid.uuid4().hex}
        )
        assert ack["ok"], ack
        await eventually(lambda: len(watcher.deltas_for(snapshot["stream"])) == 1)
        delta = watcher.deltas_for(snapshot["stream"])[0]
        assert delta["slots"] == [{"slot_id": slot, "available": 2}]
    finally:
        await watcher.close()
        await actor.close()
    # nginx logs a request when it ends: both WebSocket sessions were 101 Switching Protocols.
    log = tmp_path / "access.log"
    await eventually(
        lambda: (
            len(
                re.findall(
                    r'"GET /socket\.io/\?[^"]*transport=websocket[^"]*" 101 ', log.read_text()
                )
            )
            == 2
        )
    )


async def long_polling_subscribe(url: str, token: str, world: World) -> dict[str, Any]:
    """Connect over long-polling only, subscribe, disconnect; the ack's data."""
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, auth={"token": token}, transports=["polling"], wait_timeout=5)
    try:
        assert sio.transport() == "polling"
        payload = {
            "tenant_id": str(world.tenant_id),
            "resource_id": str(world.resource_id),
            "date": world.date,
        }
        ack: dict[str, Any] = {}
        for _ in range(3):  # several POST/GET rounds, each of which must reach the same hub
            ack = await sio.call("availability:subscribe", payload, timeout=30)
            assert ack["ok"], ack
        data: dict[str, Any] = ack["data"]
        return data
    finally:
        await sio.disconnect()


async def test_long_polling_across_two_hubs_needs_and_gets_ip_hash_stickiness(
    migrated_dsn: str, ray_session: None, db: asyncpg.Pool, tmp_path: Path
) -> None:
    # Two hubs of their own sharing one Ray namespace (as deployed), with a short heartbeat:
    # a polling client's disconnect waits for its pending long-poll GET, which a hub answers
    # at its next ping (25 s by default).
    settings = hub_settings(socket_ping_interval_secs=1.0, socket_ping_timeout_secs=5.0)
    one, one_runner = await start_hub(settings, migrated_dsn)
    two, two_runner = await start_hub(settings, migrated_dsn)
    world = await make_world(db, capacity=3, users=1)
    token = user_token(one, world, 0)
    try:
        async with running_nginx((one, two), tmp_path / "sticky") as url:
            data = await long_polling_subscribe(url, token, world)
            assert data["slots"][0]["available"] == 3
        log = (tmp_path / "sticky" / "access.log").read_text()
        statuses = re.findall(r'transport=polling[^"]*" (\d{3}) ', log)
        # Every request of the session answered 200; only the poll still pending when the
        # client left may end otherwise (the hub closed the session under it).
        assert len(statuses) >= 8
        assert set(statuses[:-1]) == {"200"}, log
        # Control: the same configuration without ip_hash alternates the session's requests
        # between the hubs, and the hub that did not open the session refuses them.
        async with running_nginx((one, two), tmp_path / "round-robin", sticky=False) as url:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await long_polling_subscribe(url, token, world)
        log = (tmp_path / "round-robin" / "access.log").read_text()
        assert "400" in re.findall(r'transport=polling[^"]*" (\d{3}) ', log), log
    finally:
        await one_runner.cleanup()
        await two_runner.cleanup()
