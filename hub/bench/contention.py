"""``seva bench contention``: N clients racing for M slots, the hub against a row-lock baseline.

One run measures both sides, one after the other, on the same PostgreSQL server (the embedded
default when ``DATABASE_URL`` is unset) with ``synchronous_commit`` on (checked, not assumed).
The run creates a scratch database on that server, migrates it, gives each side a fresh tenant
with the same slots and capacity, and drops the database at the end (``--keep-data`` keeps it):

1. **baseline**: :mod:`hub.bench.baseline`, a plain REST backend (one transaction per request,
   ``SELECT ... FOR UPDATE`` on the slot row), driven over HTTP keep-alive connections;
2. **ours**: the hub as ``seva serve`` runs it (Socket.IO → tenant actor on a Ray shard → one
   transaction per batch), driven over real Socket.IO WebSocket connections.

The baseline goes first, so Ray (which the hub starts) is not running while it is measured.
Load comes from a separate process (:mod:`hub.bench.loadgen`) so that the clients do not share
the server's event loop. Afterwards each tenant is audited in the database: slots over capacity
(``oversold``), slots whose ``held_qty`` differs from the sum of their held holds
(``counter_mismatches``), and successful acks minus hold rows (``lost_or_doubled``).

Output: one human-readable line per side on stdout, then, as the very last line, one JSON
object (keys in :func:`summary`). Exit status 0; 1 if any integrity check failed; 2 if the
bench could not run (then the last line is ``{"bench": "contention", "error": ...}``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import SecretStr

from hub.bench.scratch import (
    BenchFailed,
    check_synchronous_commit,
    positive_int,
    run_bench,
    scratch_database,
)
from hub.settings import Settings
from storage.bench import (
    BenchTenant,
    audit_tenant,
    checkpoint,
    create_bench_tenant,
    server_setting,
)

log = logging.getLogger("seva.bench")

DEFAULT_CLIENTS = 500
DEFAULT_SLOTS = 10
DEFAULT_REQUESTS = 20
SMOKE_CLIENTS = 20
SMOKE_SLOTS = 2
SMOKE_REQUESTS = 3
DEFAULT_BASELINE_POOL = 50
DEFAULT_CONNECT_CHUNK = 100
DEFAULT_CALL_TIMEOUT_SECS = 60.0
BENCH_HOLD_TTL_SECS = 3600  # long enough that nothing expires during a run
BENCH_TOKEN_TTL_SECS = 3600
# The hub's per-connection rate limit protects it from abusive clients; the bench clients are
# deliberately as fast as they can be, so the limit is lifted for the run.
BENCH_SOCKET_EVENTS_PER_SEC = 1_000_000.0
BENCH_SOCKET_BURST = 1_000_000


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    clients: int
    slots: int
    requests: int
    capacity: int
    shards: int
    baseline_pool: int
    connect_chunk: int
    call_timeout_secs: float
    seed: int
    smoke: bool
    keep_data: bool


@dataclasses.dataclass(frozen=True)
class SideResult:
    """One side's load-generator summary plus what the database holds afterwards."""

    name: str
    load: dict[str, Any]
    hold_rows: int
    oversold: int
    counter_mismatches: int
    mean_batch: float | None = None
    max_batch: int | None = None

    @property
    def lost_or_doubled(self) -> int:
        """Successful acks minus hold rows: negative = rows nobody was told about, positive =
        acks without a row."""
        return int(self.load["ok"]) - self.hold_rows

    @property
    def errors(self) -> int:
        return sum(self.load["errors"].values())

    @property
    def healthy(self) -> bool:
        return self.oversold == 0 and self.lost_or_doubled == 0 and self.counter_mismatches == 0


# -- CLI -------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clients",
        type=positive_int,
        default=None,
        help=f"concurrent clients, one connection and one user each "
        f"(default {DEFAULT_CLIENTS}; {SMOKE_CLIENTS} with --smoke)",
    )
    parser.add_argument(
        "--slots",
        type=positive_int,
        default=None,
        help=f"slots the clients race for (default {DEFAULT_SLOTS}; {SMOKE_SLOTS} with --smoke)",
    )
    parser.add_argument(
        "--requests",
        type=positive_int,
        default=None,
        help=f"holds each client asks for, one after another "
        f"(default {DEFAULT_REQUESTS}; {SMOKE_REQUESTS} with --smoke)",
    )
    parser.add_argument(
        "--capacity",
        type=positive_int,
        default=None,
        help="places per slot (default clients*requests/(2*slots): about half the attempts win)",
    )
    parser.add_argument(
        "--shards",
        type=positive_int,
        default=None,
        help="hub shard actors (default: SEVA_SHARDS, i.e. the CPU count)",
    )
    parser.add_argument(
        "--baseline-pool",
        type=positive_int,
        default=DEFAULT_BASELINE_POOL,
        help=f"PostgreSQL connections of the baseline (default {DEFAULT_BASELINE_POOL})",
    )
    parser.add_argument(
        "--connect-chunk",
        type=positive_int,
        default=DEFAULT_CONNECT_CHUNK,
        help=f"Socket.IO clients connecting at once (default {DEFAULT_CONNECT_CHUNK})",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=DEFAULT_CALL_TIMEOUT_SECS,
        help=f"seconds a client waits for one answer (default {DEFAULT_CALL_TIMEOUT_SECS:g})",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the slot choices")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run for CI: proves it works, not how fast"
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the run's scratch database (not dropped)"
    )


def config_from_args(settings: Settings, args: argparse.Namespace) -> BenchConfig:
    def pick(value: int | None, default: int, smoke_default: int) -> int:
        if value is not None:
            return value
        return smoke_default if args.smoke else default

    clients = pick(args.clients, DEFAULT_CLIENTS, SMOKE_CLIENTS)
    slots = pick(args.slots, DEFAULT_SLOTS, SMOKE_SLOTS)
    requests = pick(args.requests, DEFAULT_REQUESTS, SMOKE_REQUESTS)
    capacity = args.capacity or max(1, math.ceil(clients * requests / (2 * slots)))
    return BenchConfig(
        clients=clients,
        slots=slots,
        requests=requests,
        capacity=capacity,
        shards=args.shards or settings.shards,
        baseline_pool=args.baseline_pool,
        connect_chunk=args.connect_chunk,
        call_timeout_secs=args.call_timeout,
        seed=args.seed,
        smoke=args.smoke,
        keep_data=args.keep_data,
    )


def run_from_args(settings: Settings, args: argparse.Namespace) -> int:
    config = config_from_args(settings, args)
    return run_bench("contention", lambda: run(settings, config))


# -- the run -------------------------------------------------------------------------------------


async def run(settings: Settings, config: BenchConfig) -> tuple[dict[str, Any], bool]:
    """Run both sides; print one line per side; return the JSON summary and whether the
    integrity checks passed."""
    from hub.cli import database

    async with (
        database(settings) as server_dsn,
        scratch_database(server_dsn, keep_data=config.keep_data) as dsn,
    ):
        conn = await asyncpg.connect(dsn)
        try:
            server = {
                name: await server_setting(conn, name)
                for name in ("server_version", "synchronous_commit", "fsync", "max_connections")
            }
            server["database"] = await conn.fetchval("SELECT current_database()")
        finally:
            await conn.close()
        check_synchronous_commit(server["synchronous_commit"])
        needed = config.baseline_pool + 10
        if int(server["max_connections"]) < needed:
            raise BenchFailed(
                f"PostgreSQL allows {server['max_connections']} connections; "
                f"--baseline-pool {config.baseline_pool} needs about {needed}"
            )
        print(_header(config, server), flush=True)
        if server["fsync"] != "on":
            print(
                "note: fsync is off on this server; commits cost less than in production",
                flush=True,
            )
        baseline = await _run_baseline(dsn, config)
        print(_side_line(baseline, config), flush=True)
        ours = await _run_ours(settings, dsn, config)
        print(_side_line(ours, config), flush=True)
    return summary(config, server, ours=ours, baseline=baseline), ours.healthy and baseline.healthy


async def _run_baseline(dsn: str, config: BenchConfig) -> SideResult:
    from hub.auth import TokenIssuer
    from hub.bench.baseline import create_baseline_app

    tokens = TokenIssuer(
        {"bench": secrets.token_urlsafe(32)}, active_kid="bench", ttl_secs=BENCH_TOKEN_TTL_SECS
    )
    tenant = await _bench_tenant(dsn, "rest", config)
    app = create_baseline_app(
        dsn=dsn,
        pool_size=config.baseline_pool,
        tokens=tokens,
        hold_ttl=timedelta(seconds=BENCH_HOLD_TTL_SECS),
    )
    log.info("baseline: starting the REST app with %d connections", config.baseline_pool)
    async with _serving(app) as url:
        await _assert_synchronous_commit(dsn)
        client_tokens = [
            tokens.issue(user_id=u, tenant_id=tenant.tenant_id, role="user")
            for u in tenant.user_ids
        ]
        load = await _load(config, mode="http", url=url, tokens=client_tokens, tenant=tenant)
    return await _audited("baseline", dsn, tenant.tenant_id, load)


async def _run_ours(settings: Settings, dsn: str, config: BenchConfig) -> SideResult:
    from hub import keys
    from hub.app import create_app

    hub_settings = settings.model_copy(
        update={
            "host": "127.0.0.1",
            "port": 0,
            "shards": config.shards,
            "ray_namespace": f"seva-bench-{uuid.uuid4().hex[:8]}",
            "jwt_secret": SecretStr(secrets.token_urlsafe(32)),
            "access_token_ttl_secs": BENCH_TOKEN_TTL_SECS,
            "socket_events_per_sec": BENCH_SOCKET_EVENTS_PER_SEC,
            "socket_burst": BENCH_SOCKET_BURST,
            # Every load-generator client comes from 127.0.0.1.
            "socket_max_connections_per_ip": config.clients + 100,
        }
    )
    tenant = await _bench_tenant(dsn, "hub", config)
    app = create_app(hub_settings, dsn=dsn)
    log.info("ours: starting the hub with %d shard(s) (starts Ray)", config.shards)
    async with _serving(app) as url:
        await _assert_synchronous_commit(dsn)
        client_tokens = [
            app[keys.TOKENS].issue(user_id=u, tenant_id=tenant.tenant_id, role="user")
            for u in tenant.user_ids
        ]
        load = await _load(config, mode="socketio", url=url, tokens=client_tokens, tenant=tenant)
        batches = list(app[keys.SHARDS].batch_sizes)
    result = await _audited("ours", dsn, tenant.tenant_id, load)
    if not batches:
        return result
    return dataclasses.replace(
        result, mean_batch=round(sum(batches) / len(batches), 1), max_batch=max(batches)
    )


async def _bench_tenant(dsn: str, label: str, config: BenchConfig) -> BenchTenant:
    """A fresh tenant for one side: ``config.slots`` slots, one user per client."""
    conn = await asyncpg.connect(dsn)
    try:
        return await create_bench_tenant(
            conn,
            label=label,
            slots=config.slots,
            capacity=config.capacity,
            users=config.clients,
            hold_ttl_secs=BENCH_HOLD_TTL_SECS,
        )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port; yields its base URL; cleans the app up."""
    # No access log: a log line per baseline request (and none per Socket.IO event) would
    # charge the baseline for work that is not what the bench compares.
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _assert_synchronous_commit(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        check_synchronous_commit(await server_setting(conn, "synchronous_commit"))
        # Start each timed phase from a clean slate rather than let a checkpoint land in one.
        await checkpoint(conn)
    finally:
        await conn.close()


async def _load(
    config: BenchConfig, *, mode: str, url: str, tokens: list[str], tenant: BenchTenant
) -> dict[str, Any]:
    """Run the load generator in its own process and return its JSON summary."""
    spec = {
        "mode": mode,
        "url": url,
        "tokens": tokens,
        "slot_ids": [str(s) for s in tenant.slot_ids],
        "requests": config.requests,
        "connect_chunk": config.connect_chunk,
        "call_timeout_secs": config.call_timeout_secs,
        "seed": config.seed,
    }
    log.info("%s: %d clients x %d requests", mode, config.clients, config.requests)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.bench.loadgen",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(json.dumps(spec).encode())
    lines = out.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = err.decode(errors="replace").strip()[-2000:]
        raise BenchFailed(f"load generator ({mode}) exited with {proc.returncode}: {tail}")
    if err.strip():
        sys.stderr.write(err.decode(errors="replace"))
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise BenchFailed(f"load generator ({mode}) printed no JSON: {lines[-1][:200]}") from exc
    return result


async def _audited(name: str, dsn: str, tenant_id: uuid.UUID, load: dict[str, Any]) -> SideResult:
    conn = await asyncpg.connect(dsn)
    try:
        audit = await audit_tenant(conn, tenant_id=tenant_id)
    finally:
        await conn.close()
    return SideResult(
        name=name,
        load=load,
        hold_rows=audit.hold_rows,
        oversold=audit.oversold_slots,
        counter_mismatches=audit.counter_mismatches,
    )


# -- report ----------------------------------------------------------------------------------------


def _header(config: BenchConfig, server: dict[str, str]) -> str:
    mode = " (smoke)" if config.smoke else ""
    return (
        f"seva bench contention{mode}: {config.clients} clients x {config.requests} holds "
        f"racing for {config.slots} slots of {config.capacity} places; "
        f"PostgreSQL {server['server_version']} (database {server['database']}), "
        f"synchronous_commit={server['synchronous_commit']}, fsync={server['fsync']}"
    )


def _side_line(side: SideResult, config: BenchConfig) -> str:
    load = side.load
    if side.name == "ours":
        label = f"ours     (Socket.IO -> tenant actor, {config.shards} shard(s), group commit)"
    else:
        label = f"baseline (REST, 1 txn/request, SELECT FOR UPDATE, pool {config.baseline_pool})"
    errors = ", ".join(f"{k}={v}" for k, v in sorted(load["errors"].items())) or "0"
    line = (
        f"{label}: {load['ops_per_s']:.1f} ops/s  ok {load['ok']}  sold_out {load['sold_out']}  "
        f"errors {errors}  p50 {load['p50_ms']:.1f} ms  p99 {load['p99_ms']:.1f} ms  "
        f"oversold {side.oversold}  lost_or_doubled {side.lost_or_doubled}  "
        f"counter_mismatches {side.counter_mismatches}"
    )
    if side.mean_batch is not None:
        line += f"  mean batch {side.mean_batch} (max {side.max_batch})"
    line += (
        f"  [{load['connected']}/{load['clients']} clients connected in {load['connect_s']:.1f} s"
        f", timed phase {load['elapsed_s']:.1f} s]"
    )
    return line


def summary(
    config: BenchConfig, server: dict[str, str], *, ours: SideResult, baseline: SideResult
) -> dict[str, Any]:
    base_ops = float(baseline.load["ops_per_s"])
    ours_ops = float(ours.load["ops_per_s"])
    return {
        "bench": "contention",
        "ours_ops_per_s": ours_ops,
        "baseline_ops_per_s": base_ops,
        "ratio": round(ours_ops / base_ops, 2) if base_ops > 0 else None,
        "ours_p99_ms": ours.load["p99_ms"],
        "baseline_p99_ms": baseline.load["p99_ms"],
        "oversold": ours.oversold + baseline.oversold,
        "ours_p50_ms": ours.load["p50_ms"],
        "baseline_p50_ms": baseline.load["p50_ms"],
        "ours_ok": ours.load["ok"],
        "baseline_ok": baseline.load["ok"],
        "ours_sold_out": ours.load["sold_out"],
        "baseline_sold_out": baseline.load["sold_out"],
        "ours_errors": ours.errors,
        "baseline_errors": baseline.errors,
        "ours_lost_or_doubled": ours.lost_or_doubled,
        "baseline_lost_or_doubled": baseline.lost_or_doubled,
        "counter_mismatches": ours.counter_mismatches + baseline.counter_mismatches,
        "ours_mean_batch": ours.mean_batch,
        "clients": config.clients,
        "slots": config.slots,
        "requests": config.requests,
        "capacity": config.capacity,
        "shards": config.shards,
        "baseline_pool": config.baseline_pool,
        "smoke": config.smoke,
        "synchronous_commit": server["synchronous_commit"],
        "fsync": server["fsync"],
    }
