"""``seva bench fanout``: one availability delta to N subscribers, the hub against Node.js.

One run measures two servers, one after the other, with the same load generator
(:mod:`hub.bench.fanout_loadgen`, its own process, raw Engine.IO v4 over WebSocket), the same
room, the same payload shape and the same users' tokens:

1. **node**: the reference server ``hub/bench/node_fanout/server.js`` on npm ``socket.io`` 4.8
   (installed by the bench with ``npm ci`` into ``hub/bench/node_fanout/node_modules`` unless
   already there). Each delta is written to its stdin and emitted with ``io.to(room).emit``.
2. **ours**: ``seva serve`` as a separate process against a scratch database. Each delta goes
   the way a committed change does after a shard's commit: its row is stored in
   ``availability_events``, then ``pg_notify('seva_availability', payload)``; every hub
   LISTENs, and :class:`hub.fanout.AvailabilityFanout` delivers it to the stream's room. The
   actor and the hold's own transaction are left out (they are what ``seva bench contention``
   measures); the LISTEN hop is in.

All N clients connect and ``availability:subscribe`` to one stream first. Then K deltas are
sent one at a time; the next is sent only once every subscriber has received the previous one
(or after ``--delta-timeout``), so each delta's fan-out is measured on an otherwise idle server
and ``msgs/s`` is the delivery rate of a server that is always busy fanning out. Each delta
carries ``sent_at`` (``time.time()`` right before it is handed to the server); latency is
receive time minus ``sent_at`` per client and delta (same machine clock). Memory is the server
process's RSS after everyone subscribed minus its RSS before anyone connected, divided by the
connections.

``--idle`` instead holds N (default 10,000) connected and subscribed clients on each server,
sends nothing, and reports RSS per connection.

Output: one line per side, the ratios, then, as the very last line, one JSON object
(:func:`summary` / :func:`idle_summary`). Exit status 0; 1 if a delta was lost, reordered,
duplicated or wrong, or a client could not connect; 2 if the bench could not run (then the last
line is ``{"bench": "fanout" | "fanout_idle", "error": ...}``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from hub.bench.fanout_loadgen import raise_fd_limit
from hub.bench.scratch import BenchFailed, positive_int, run_bench, scratch_database
from hub.settings import Settings
from storage.bench import create_bench_tenant
from storage.inventory import AVAILABILITY_CHANNEL

log = logging.getLogger("seva.bench")

DEFAULT_SUBSCRIBERS = 5_000
DEFAULT_DELTAS = 20
DEFAULT_IDLE_CONNECTIONS = 10_000
SMOKE_SUBSCRIBERS = 50
SMOKE_DELTAS = 5
DEFAULT_CONNECT_CHUNK = 200
DEFAULT_DELTA_TIMEOUT_SECS = 15.0
CAPACITY = 1_000_000  # a delta's ``available`` is CAPACITY - seq
BENCH_TOKEN_TTL_SECS = 3600
SETTLE_SECS = 1.0
NODE_DIR = Path(__file__).resolve().parent / "node_fanout"
NODE_SOCKET_IO = NODE_DIR / "node_modules" / "socket.io" / "package.json"
SERVING = re.compile(r"serving on (http://\S+)")


@dataclasses.dataclass(frozen=True)
class FanoutConfig:
    subscribers: int
    deltas: int
    idle: bool
    smoke: bool
    connect_chunk: int
    delta_timeout_secs: float
    keep_data: bool

    @property
    def name(self) -> str:
        return "fanout_idle" if self.idle else "fanout"


@dataclasses.dataclass(frozen=True)
class SideResult:
    name: str
    load: dict[str, Any]
    rss_before_kib: int
    rss_after_kib: int
    expected: int  # deltas x subscribers asked for
    wrong_values: int  # deltas whose ``available`` was not what was sent

    @property
    def kb_per_conn(self) -> float:
        connected = max(1, int(self.load["connected"]))
        return round((self.rss_after_kib - self.rss_before_kib) / connected, 2)

    @property
    def lost(self) -> int:
        return max(0, self.expected - int(self.load["received_unique"]))

    @property
    def healthy(self) -> bool:
        return (
            self.lost == 0
            and self.wrong_values == 0
            and self.load["out_of_order"] == 0
            and self.load["duplicates"] == 0
            and self.load["connected"] == self.load["clients"]
        )


# -- CLI -------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscribers",
        type=positive_int,
        default=None,
        help=f"clients subscribed to the one stream (default {DEFAULT_SUBSCRIBERS}; "
        f"{DEFAULT_IDLE_CONNECTIONS} with --idle; {SMOKE_SUBSCRIBERS} with --smoke)",
    )
    parser.add_argument(
        "--deltas",
        type=positive_int,
        default=None,
        help=f"deltas sent, one at a time (default {DEFAULT_DELTAS}; {SMOKE_DELTAS} with --smoke)",
    )
    parser.add_argument(
        "--idle",
        action="store_true",
        help="hold the connections idle and report memory per connection only",
    )
    parser.add_argument(
        "--connect-chunk",
        type=positive_int,
        default=DEFAULT_CONNECT_CHUNK,
        help=f"clients connecting at once (default {DEFAULT_CONNECT_CHUNK})",
    )
    parser.add_argument(
        "--delta-timeout",
        type=float,
        default=DEFAULT_DELTA_TIMEOUT_SECS,
        help="seconds to wait for every subscriber to receive one delta "
        f"(default {DEFAULT_DELTA_TIMEOUT_SECS:g})",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run for CI: proves it works, not how fast"
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the run's scratch database (not dropped)"
    )


def config_from_args(args: argparse.Namespace) -> FanoutConfig:
    if args.subscribers is not None:
        subscribers = args.subscribers
    elif args.smoke:
        subscribers = SMOKE_SUBSCRIBERS
    else:
        subscribers = DEFAULT_IDLE_CONNECTIONS if args.idle else DEFAULT_SUBSCRIBERS
    deltas = args.deltas or (SMOKE_DELTAS if args.smoke else DEFAULT_DELTAS)
    return FanoutConfig(
        subscribers=subscribers,
        deltas=deltas,
        idle=args.idle,
        smoke=args.smoke,
        connect_chunk=args.connect_chunk,
        delta_timeout_secs=args.delta_timeout,
        keep_data=args.keep_data,
    )


def run_from_args(settings: Settings, args: argparse.Namespace) -> int:
    config = config_from_args(args)
    return run_bench(config.name, lambda: run(settings, config))


# -- the run -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BenchStream:
    tenant_id: UUID
    resource_id: UUID
    day: date
    slot_id: UUID
    tokens: list[str]
    jwt_secret: str

    @property
    def stream(self) -> str:
        return f"availability:{self.tenant_id}:{self.resource_id}:{self.day.isoformat()}"

    def subscribe_payload(self) -> dict[str, str]:
        return {
            "tenant_id": str(self.tenant_id),
            "resource_id": str(self.resource_id),
            "date": self.day.isoformat(),
        }

    def delta(self, seq: int) -> dict[str, Any]:
        """The ``availability`` payload of change ``seq``, as a shard would announce it."""
        return {
            "stream": self.stream,
            "seq": seq,
            "slots": [{"slot_id": str(self.slot_id), "available": CAPACITY - seq}],
        }


class FanoutServer(Protocol):
    pid: int
    url: str

    async def send(self, delta: dict[str, Any]) -> None: ...


async def run(settings: Settings, config: FanoutConfig) -> tuple[dict[str, Any], bool]:
    node_version = await ensure_node_server()
    ours_side, node_side = await measure_sides(settings, config, node_version=node_version)
    assert node_side is not None
    print(_ratios_line(ours_side, node_side, config), flush=True)
    healthy = ours_side.healthy and node_side.healthy
    if config.idle:
        return idle_summary(config, ours=ours_side, node=node_side), healthy
    return summary(config, ours=ours_side, node=node_side), healthy


async def measure_sides(
    settings: Settings, config: FanoutConfig, *, node_version: str | None
) -> tuple[SideResult, SideResult | None]:
    """Measure the Node.js server (unless ``node_version`` is None: Node is not available, and
    only ours is measured), then ours, in one scratch database; prints the header and one line
    per side; returns (ours, node)."""
    from hub.cli import database

    raise_fd_limit(config.subscribers + 1024)  # the servers inherit it
    node_side: SideResult | None = None
    async with (
        database(settings) as server_dsn,
        scratch_database(server_dsn, keep_data=config.keep_data) as dsn,
    ):
        world = await _bench_stream(dsn, config.subscribers)
        print(_header(config, node_version or "(not run)"), flush=True)
        if node_version is not None:
            async with node_server() as node:
                node_side = await _measure("node", node, world, config)
            print(_side_line(node_side, config), flush=True)
        async with hub_server(dsn, world, config) as ours:
            ours_side = await _measure("ours", ours, world, config)
        print(_side_line(ours_side, config), flush=True)
    return ours_side, node_side


async def ensure_node_server() -> str:
    """Install the reference server's npm packages once (``npm ci``; kept in node_modules).
    Raises BenchFailed, loudly, if Node.js or npm is missing or the install fails."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise BenchFailed("the fan-out bench needs Node.js and npm on PATH (node 20 or later)")
    if not NODE_SOCKET_IO.exists():
        log.info("installing the Node.js reference server's packages (npm ci)")
        proc = await asyncio.create_subprocess_exec(
            "npm",
            "ci",
            "--no-audit",
            "--no-fund",
            cwd=NODE_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0 or not NODE_SOCKET_IO.exists():
            tail = out.decode(errors="replace")[-2000:]
            raise BenchFailed(f"npm ci in {NODE_DIR} failed (exit {proc.returncode}): {tail}")
    return str(json.loads(NODE_SOCKET_IO.read_text())["version"])


async def _bench_stream(dsn: str, users: int) -> BenchStream:
    from hub.auth import TokenIssuer

    conn = await asyncpg.connect(dsn)
    try:
        tenant = await create_bench_tenant(
            conn, label="fanout", slots=1, capacity=CAPACITY, users=users, hold_ttl_secs=3600
        )
        row = await conn.fetchrow(
            "SELECT resource_id, local_date FROM slots WHERE id = $1", tenant.slot_ids[0]
        )
    finally:
        await conn.close()
    secret = secrets.token_urlsafe(32)
    issuer = TokenIssuer({"k1": secret}, active_kid="k1", ttl_secs=BENCH_TOKEN_TTL_SECS)
    tokens = [
        issuer.issue(user_id=u, tenant_id=tenant.tenant_id, role="user") for u in tenant.user_ids
    ]
    return BenchStream(
        tenant_id=tenant.tenant_id,
        resource_id=row["resource_id"],
        day=row["local_date"],
        slot_id=tenant.slot_ids[0],
        tokens=tokens,
        jwt_secret=secret,
    )


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchFailed(f"no VmRSS for process {pid}")


# -- servers -------------------------------------------------------------------------------------


@dataclasses.dataclass
class NodeServer:
    proc: asyncio.subprocess.Process
    pid: int
    url: str

    async def send(self, delta: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        announced = {**delta, "sent_at": time.time()}
        self.proc.stdin.write(json.dumps(announced, separators=(",", ":")).encode() + b"\n")
        await self.proc.stdin.drain()


@contextlib.asynccontextmanager
async def node_server() -> AsyncIterator[NodeServer]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        "server.js",
        cwd=NODE_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            raise BenchFailed(f"node server.js exited with {await proc.wait()}")
        ready = json.loads(line)
        yield NodeServer(proc=proc, pid=proc.pid, url=f"http://127.0.0.1:{ready['listening']}")
    finally:
        await _stop(proc, close_stdin=True)


@dataclasses.dataclass
class HubServer:
    pid: int
    url: str
    conn: asyncpg.Connection
    tenant_id: UUID

    async def send(self, delta: dict[str, Any]) -> None:
        """What a shard does after committing a change: the event row, then NOTIFY. The clock
        (``sent_at``) starts after the row is stored, at the NOTIFY."""
        await self.conn.execute(
            "INSERT INTO availability_events (stream, seq, tenant_id, payload) "
            "VALUES ($1, $2, $3, $4::jsonb)",
            delta["stream"],
            delta["seq"],
            self.tenant_id,
            json.dumps(delta, separators=(",", ":")),
        )
        announced = {**delta, "sent_at": time.time()}
        await self.conn.execute(
            "SELECT pg_notify($1, $2)",
            AVAILABILITY_CHANNEL,
            json.dumps(announced, separators=(",", ":")),
        )


@contextlib.asynccontextmanager
async def hub_server(
    dsn: str, world: BenchStream, config: FanoutConfig
) -> AsyncIterator[HubServer]:
    """``seva serve`` in its own process (real app, Ray and all) on a free port."""
    data_dir = tempfile.mkdtemp(prefix="seva-bench-fanout-")
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "SEVA_HOST": "127.0.0.1",
        "SEVA_PORT": "0",
        "SEVA_DATA_DIR": data_dir,
        "SEVA_JWT_SECRET": world.jwt_secret,
        "SEVA_SHARDS": "1",
        "SEVA_WALLET_SHARDS": "1",
        "SEVA_RAY_NAMESPACE": f"seva-bench-{uuid.uuid4().hex[:8]}",
        "SEVA_LOG_LEVEL": "WARNING",
        # Every bench client comes from 127.0.0.1.
        "SEVA_SOCKET_MAX_CONNECTIONS_PER_IP": str(config.subscribers + 1000),
        "RAY_AUTH_MODE": "disabled",
    }
    for name in ("RAY_ADDRESS", "SEVA_RAY_ADDRESS", "SEVA_DEMO"):
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "serve",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stderr_tail: list[str] = []
    drains: list[asyncio.Task[None]] = []
    conn: asyncpg.Connection | None = None
    try:
        assert proc.stdout is not None and proc.stderr is not None
        drains.append(asyncio.create_task(_drain(proc.stderr, stderr_tail)))
        url = await _await_serving(proc.stdout, proc, stderr_tail)
        drains.append(asyncio.create_task(_drain(proc.stdout, [])))
        conn = await asyncpg.connect(dsn)
        yield HubServer(pid=proc.pid, url=url, conn=conn, tenant_id=world.tenant_id)
    finally:
        if conn is not None:
            await conn.close()
        await _stop(proc, close_stdin=False)
        for task in drains:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        shutil.rmtree(data_dir, ignore_errors=True)
        if proc.returncode not in (0, None, -15):
            sys.stderr.write("".join(stderr_tail[-40:]))


async def _await_serving(
    stdout: asyncio.StreamReader, proc: asyncio.subprocess.Process, stderr_tail: list[str]
) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            line = await asyncio.wait_for(stdout.readline(), max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        if not line:
            await proc.wait()
            raise BenchFailed(
                f"seva serve exited with {proc.returncode}: {''.join(stderr_tail[-40:])[-2000:]}"
            )
        found = SERVING.search(line.decode(errors="replace"))
        if found:
            return found.group(1)
    raise BenchFailed("seva serve did not start serving within 180 s")


async def _drain(stream: asyncio.StreamReader, tail: list[str]) -> None:
    while line := await stream.readline():
        tail.append(line.decode(errors="replace"))
        del tail[:-200]


async def _stop(proc: asyncio.subprocess.Process, *, close_stdin: bool) -> None:
    if proc.returncode is not None:
        return
    if close_stdin and proc.stdin is not None:
        proc.stdin.close()
    else:
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()


# -- measuring one side ------------------------------------------------------------------------


async def _measure(
    name: str, server: FanoutServer, world: BenchStream, config: FanoutConfig
) -> SideResult:
    await asyncio.sleep(SETTLE_SECS)
    rss_before = rss_kib(server.pid)
    spec = {
        "url": server.url,
        "tokens": world.tokens,
        "subscribe": world.subscribe_payload(),
        "connect_chunk": config.connect_chunk,
        "timeout_secs": 60,
    }
    log.info("%s: %d subscribers connecting", name, config.subscribers)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.bench.fanout_loadgen",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    assert proc.stdin is not None and proc.stdout is not None
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    reader = asyncio.create_task(_read_events(proc.stdout, events))
    try:
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await proc.stdin.drain()
        ready = await _next_event(events, "ready", within_secs=60 + config.subscribers / 20)
        if ready["subscribed"] == 0:
            raise BenchFailed(f"{name}: no client could subscribe: {ready['errors']}")
        await asyncio.sleep(SETTLE_SECS)
        rss_after = rss_kib(server.pid)
        if not config.idle:
            for seq in range(1, config.deltas + 1):
                await server.send(world.delta(seq))
                with contextlib.suppress(TimeoutError):
                    await _next_event(
                        events, "delivered", within_secs=config.delta_timeout_secs, seq=seq
                    )
        proc.stdin.write(b"finish\n")
        await proc.stdin.drain()
        load = await _next_event(events, "summary", within_secs=120)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    wrong = sum(
        1 for seq, values in load["available_by_seq"].items() if values != [CAPACITY - int(seq)]
    )
    return SideResult(
        name=name,
        load=load,
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        expected=0 if config.idle else config.deltas * config.subscribers,
        wrong_values=wrong,
    )


async def _read_events(stream: asyncio.StreamReader, events: asyncio.Queue[dict[str, Any]]) -> None:
    while line := await stream.readline():
        with contextlib.suppress(json.JSONDecodeError):
            events.put_nowait(json.loads(line))
    events.put_nowait({"event": "exited"})


async def _next_event(
    events: asyncio.Queue[dict[str, Any]], kind: str, *, within_secs: float, seq: int | None = None
) -> dict[str, Any]:
    """The next load-generator line of ``kind`` (for ``delivered``: of ``seq`` or later)."""
    deadline = time.monotonic() + within_secs
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(kind)
        event = await asyncio.wait_for(events.get(), remaining)
        if event.get("event") == "exited":
            raise BenchFailed(f"the load generator exited while waiting for {kind!r}")
        if event.get("event") != kind:
            continue
        if seq is None or int(event.get("seq", 0)) >= seq:
            return event


# -- report ----------------------------------------------------------------------------------------


def _header(config: FanoutConfig, node_version: str) -> str:
    mode = " (smoke)" if config.smoke else ""
    if config.idle:
        what = f"{config.subscribers} idle subscribed connections per server"
    else:
        what = f"{config.subscribers} subscribers x {config.deltas} deltas, one at a time"
    return (
        f"seva bench fanout{mode}: {what}; ours = seva serve (LISTEN -> AvailabilityFanout), "
        f"node = socket.io {node_version}; load generator: raw Engine.IO v4 over WebSocket"
    )


def _side_line(side: SideResult, config: FanoutConfig) -> str:
    load = side.load
    label = f"{side.name:<5}"
    memory = (
        f"{side.kb_per_conn:.1f} KiB/conn (RSS {side.rss_before_kib / 1024:.0f} -> "
        f"{side.rss_after_kib / 1024:.0f} MiB)"
    )
    connected = f"{load['connected']}/{load['clients']} connected in {load['connect_s']:.1f} s"
    if config.idle:
        return f"{label}: {memory}  [{connected}]"
    return (
        f"{label}: p50 {load['p50_ms']:.1f} ms  p99 {load['p99_ms']:.1f} ms  "
        f"last subscriber p50 {load['fanout_p50_ms']:.1f} ms  "
        f"{load['msgs_per_s']:.0f} msgs/s  {memory}  lost {side.lost}  "
        f"out_of_order {load['out_of_order']}  duplicates {load['duplicates']}  "
        f"wrong {side.wrong_values}  [{connected}]"
    )


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b > 0 else None


def _ratios_line(ours: SideResult, node: SideResult, config: FanoutConfig) -> str:
    kb = _ratio(ours.kb_per_conn, node.kb_per_conn)
    if config.idle:
        return f"ours/node: memory per connection x{kb}"
    return (
        f"ours/node: msgs/s x{_ratio(ours.load['msgs_per_s'], node.load['msgs_per_s'])}  "
        f"p99 x{_ratio(ours.load['p99_ms'], node.load['p99_ms'])}  "
        f"memory per connection x{kb}"
    )


def summary(config: FanoutConfig, *, ours: SideResult, node: SideResult) -> dict[str, Any]:
    return {
        "bench": "fanout",
        "subscribers": config.subscribers,
        "ours_p99_ms": ours.load["p99_ms"],
        "node_p99_ms": node.load["p99_ms"],
        "ours_msgs_per_s": ours.load["msgs_per_s"],
        "node_msgs_per_s": node.load["msgs_per_s"],
        "ratio": _ratio(ours.load["msgs_per_s"], node.load["msgs_per_s"]),
        "ours_kb_per_conn": ours.kb_per_conn,
        "node_kb_per_conn": node.kb_per_conn,
        "lost": ours.lost + node.lost,
        "ours_lost": ours.lost,
        "node_lost": node.lost,
        "deltas": config.deltas,
        "ours_p50_ms": ours.load["p50_ms"],
        "node_p50_ms": node.load["p50_ms"],
        "ours_fanout_p50_ms": ours.load["fanout_p50_ms"],
        "node_fanout_p50_ms": node.load["fanout_p50_ms"],
        "ours_connected": ours.load["connected"],
        "node_connected": node.load["connected"],
        "ours_out_of_order": ours.load["out_of_order"],
        "node_out_of_order": node.load["out_of_order"],
        "ours_duplicates": ours.load["duplicates"],
        "node_duplicates": node.load["duplicates"],
        "wrong_values": ours.wrong_values + node.wrong_values,
        "ours_coalesced": ours.load["coalesced"],
        "ours_resyncs": ours.load["resyncs"],
        "delivery": "notify",
        "smoke": config.smoke,
    }


def idle_summary(config: FanoutConfig, *, ours: SideResult, node: SideResult) -> dict[str, Any]:
    return {
        "bench": "fanout_idle",
        "connections": config.subscribers,
        "ours_kb_per_conn": ours.kb_per_conn,
        "node_kb_per_conn": node.kb_per_conn,
        "kb_ratio": _ratio(ours.kb_per_conn, node.kb_per_conn),
        "ours_connected": ours.load["connected"],
        "node_connected": node.load["connected"],
        "ours_rss_mib": round(ours.rss_after_kib / 1024, 1),
        "node_rss_mib": round(node.rss_after_kib / 1024, 1),
        "smoke": config.smoke,
    }
