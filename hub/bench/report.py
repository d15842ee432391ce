"""``seva bench all``: the contention, wallet and fan-out benchmarks swept over load, with their
baselines, written down as one results JSON and three PNG plots.

For every concurrency level in ``--concurrency`` it runs :func:`hub.bench.contention.run`
(``--clients`` = the level) and :func:`hub.bench.wallet.run` (``--concurrency`` = the level,
both scenarios), and for every count in ``--subscribers`` the fan-out measurement of
:mod:`hub.bench.fanout` (``--subscribers`` = the count). Each of those is the existing bench,
unchanged: it makes its own scratch database, measures its baseline and ours one after the
other in that run, audits the data and says whether its integrity checks held. This module only
chooses the sizes per point, collects the numbers and draws them (:mod:`hub.bench.plots`).

Sizes grow with the load so that every point runs many rounds of its closed loop and a low
level still measures enough operations: see :func:`contention_argv` and :func:`wallet_argv`.

Output on stdout: one JSON line per point and side (:func:`point_line`), then, as the very last
line, ``{"benchmark": "all", "results": "<DIR>/results.json", "plots": [...], ...}`` with the
throughput ratios (:func:`summary`). The benches' own human-readable lines go to stderr, with
one tqdm progress bar per sweep (shown when stderr is a terminal). Exit status 0; 1 if an
integrity check of some point failed (the results are still written); 2 if the report could not
run (then the last line is ``{"benchmark": "all", "error": ...}``).

If Node.js or the npm install of the reference server is not available, the fan-out points
have no ``node`` side: the report says so in ``notes`` and ``node_skipped``, and still runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Literal

import asyncpg
from pydantic import SecretStr

from hub.bench import contention, fanout, wallet
from hub.bench.scratch import BenchFailed, positive_int
from hub.settings import Settings
from storage.bench import server_setting

RESULTS_FORMAT = 1
BENCHMARKS = ("contention", "wallet", "fanout")
DEFAULT_CONCURRENCY = (1, 8, 64, 512)
DEFAULT_SUBSCRIBERS = (100, 1000, 5000)
SMOKE_CONCURRENCY = (2, 8)
SMOKE_SUBSCRIBERS = (10, 30)
DEFAULT_OUT = Path("docs/bench")
DEFAULT_DELTAS = 20
SMOKE_DELTAS = 3
# Contention: every client sends at least this many holds, and a level sends at least this
# many in all (a single client then still makes a measurement, not a handful of samples).
CONTENTION_MIN_REQUESTS = 20
CONTENTION_MIN_TOTAL = 600
SMOKE_CONTENTION_MIN_REQUESTS = 3
SMOKE_CONTENTION_MIN_TOTAL = 30
# Wallet: debits per scenario and side = this many rounds of the closed loop, within bounds.
WALLET_ROUNDS = 20
WALLET_MIN_OPS = 600
WALLET_MAX_OPS = 20_000
SMOKE_WALLET_MIN_OPS = 60
SMOKE_WALLET_MAX_OPS = 200
WALLET_DEBITS_PER_WALLET = 20  # in ``spread``, as the wallet bench's defaults have it

Variant = Literal["seva", "baseline", "node"]
SWEEP_AXES = {"contention": "concurrency", "wallet": "concurrency", "fanout": "subscribers"}
THROUGHPUT_UNITS = {"contention": "ops/s", "wallet": "ops/s", "fanout": "msgs/s"}


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    benchmarks: tuple[str, ...]
    concurrency: tuple[int, ...]
    subscribers: tuple[int, ...]
    deltas: int
    shards: int | None
    out: Path
    smoke: bool
    argv: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Point:
    """One side of one benchmark at one load level."""

    benchmark: str
    scenario: str | None  # the wallet bench's ``hot`` / ``spread``; None for the others
    variant: Variant
    x: int
    throughput: float
    p50_ms: float
    p99_ms: float
    healthy: bool
    details: dict[str, Any]


# -- CLI -------------------------------------------------------------------------------------------


def int_list(text: str) -> tuple[int, ...]:
    """``"1,8,32"`` → ``(1, 8, 32)``: positive, distinct, sorted."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("needs at least one value, each at least 1")
    return tuple(values)


def benchmark_list(text: str) -> tuple[str, ...]:
    names = tuple(name for name in BENCHMARKS if name in {p.strip() for p in text.split(",")})
    unknown = {p.strip() for p in text.split(",") if p.strip()} - set(BENCHMARKS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(BENCHMARKS)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"directory for results.json and the PNG plots (default {DEFAULT_OUT}/)",
    )
    parser.add_argument(
        "--concurrency",
        type=int_list,
        default=None,
        help="contention clients / wallet debits in flight, one point each (default "
        f"{','.join(map(str, DEFAULT_CONCURRENCY))}; "
        f"{','.join(map(str, SMOKE_CONCURRENCY))} with --smoke)",
    )
    parser.add_argument(
        "--subscribers",
        type=int_list,
        default=None,
        help="fan-out subscribers, one point each (default "
        f"{','.join(map(str, DEFAULT_SUBSCRIBERS))}; "
        f"{','.join(map(str, SMOKE_SUBSCRIBERS))} with --smoke)",
    )
    parser.add_argument(
        "--deltas",
        type=positive_int,
        default=None,
        help=f"fan-out deltas per point (default {DEFAULT_DELTAS}; {SMOKE_DELTAS} with --smoke)",
    )
    parser.add_argument(
        "--benchmarks",
        type=benchmark_list,
        default=BENCHMARKS,
        help=f"which sweeps to run (default {','.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--shards",
        type=positive_int,
        default=None,
        help="shard actors of the contention and wallet benches (default: theirs)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes for CI: proves it works, not how fast"
    )


def config_from_args(args: argparse.Namespace, argv: tuple[str, ...]) -> ReportConfig:
    return ReportConfig(
        benchmarks=args.benchmarks,
        concurrency=args.concurrency or (SMOKE_CONCURRENCY if args.smoke else DEFAULT_CONCURRENCY),
        subscribers=args.subscribers or (SMOKE_SUBSCRIBERS if args.smoke else DEFAULT_SUBSCRIBERS),
        deltas=args.deltas or (SMOKE_DELTAS if args.smoke else DEFAULT_DELTAS),
        shards=args.shards,
        out=args.out,
        smoke=args.smoke,
        argv=argv,
    )


def run_from_args(settings: Settings, args: argparse.Namespace) -> int:
    config = config_from_args(args, tuple(sys.argv[1:]))
    stdout = sys.stdout
    try:
        line, healthy = asyncio.run(run(settings, config, stdout=stdout))
    except (BenchFailed, OSError, asyncpg.PostgresError, ImportError) as exc:
        print(f"bench all failed: {exc!r}", file=sys.stderr, flush=True)
        print(json.dumps({"benchmark": "all", "error": str(exc)}), file=stdout, flush=True)
        return 2
    print(json.dumps(line), file=stdout, flush=True)
    return 0 if healthy else 1


# -- sizes per point -----------------------------------------------------------------------------


def contention_argv(clients: int, *, smoke: bool, shards: int | None) -> list[str]:
    """Arguments of ``seva bench contention`` for one point: ``clients`` racing, each sending
    enough holds that the level sends at least a minimum in all."""
    min_requests = SMOKE_CONTENTION_MIN_REQUESTS if smoke else CONTENTION_MIN_REQUESTS
    min_total = SMOKE_CONTENTION_MIN_TOTAL if smoke else CONTENTION_MIN_TOTAL
    requests = max(min_requests, math.ceil(min_total / clients))
    argv = ["--clients", str(clients), "--requests", str(requests)]
    return argv + _common_argv(smoke=smoke, shards=shards)


def wallet_argv(in_flight: int, *, smoke: bool, shards: int | None) -> list[str]:
    """Arguments of ``seva bench wallet`` for one point: ``in_flight`` debits at once,
    :data:`WALLET_ROUNDS` rounds of them (within bounds), :data:`WALLET_DEBITS_PER_WALLET`
    debits per wallet in ``spread``."""
    low, high = (
        (SMOKE_WALLET_MIN_OPS, SMOKE_WALLET_MAX_OPS) if smoke else (WALLET_MIN_OPS, WALLET_MAX_OPS)
    )
    ops = min(max(WALLET_ROUNDS * in_flight, low), high)
    wallets = max(2, ops // WALLET_DEBITS_PER_WALLET)
    argv = ["--concurrency", str(in_flight), "--ops", str(ops), "--wallets", str(wallets)]
    return argv + _common_argv(smoke=smoke, shards=shards)


def fanout_argv(subscribers: int, *, deltas: int, smoke: bool) -> list[str]:
    argv = ["--subscribers", str(subscribers), "--deltas", str(deltas)]
    return argv + (["--smoke"] if smoke else [])


def _common_argv(*, smoke: bool, shards: int | None) -> list[str]:
    return (["--smoke"] if smoke else []) + (["--shards", str(shards)] if shards else [])


def _parse(add: Callable[[argparse.ArgumentParser], None], argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


# -- the run -------------------------------------------------------------------------------------


async def run(
    settings: Settings, config: ReportConfig, *, stdout: IO[str]
) -> tuple[dict[str, Any], bool]:
    """Run every sweep, print each point's JSON lines on ``stdout``, write the results and
    plots; return the summary line and whether every point's integrity checks held."""
    from hub.bench.plots import draw_fanout, draw_sweep
    from hub.cli import database

    started = time.monotonic()
    config.out.mkdir(parents=True, exist_ok=True)
    points: list[Point] = []
    notes: list[str] = []
    bench_summaries: list[dict[str, Any]] = []
    machine = machine_info()
    with _benches_print_to_stderr():
        async with database(settings) as server_dsn:
            # Every point's bench reuses this one server (and makes its own scratch database).
            shared = settings.model_copy(update={"database_url": SecretStr(server_dsn)})
            machine["postgres"] = await _postgres_info(server_dsn)
            node_version: str | None = None
            if "fanout" in config.benchmarks:
                node_version, note = await _node_or_note()
                if note:
                    notes.append(note)
            machine["node_socket_io"] = node_version

            def emit(new: list[Point]) -> None:
                points.extend(new)
                for line in pair_lines(new):
                    print(json.dumps(line), file=stdout, flush=True)

            if "contention" in config.benchmarks:
                for clients in _progress("contention", config.concurrency, "clients"):
                    argv = contention_argv(clients, smoke=config.smoke, shards=config.shards)
                    conf = contention.config_from_args(
                        shared, _parse(contention.add_arguments, argv)
                    )
                    load = _load_avg()
                    line, healthy = await contention.run(shared, conf)
                    bench_summaries.append(line)
                    emit(contention_points(clients, line, healthy=healthy, load_avg=load))
            if "wallet" in config.benchmarks:
                for in_flight in _progress("wallet", config.concurrency, "in flight"):
                    argv = wallet_argv(in_flight, smoke=config.smoke, shards=config.shards)
                    wconf = wallet.config_from_args(shared, _parse(wallet.add_arguments, argv))
                    load = _load_avg()
                    line, healthy = await wallet.run(shared, wconf)
                    bench_summaries.append(line)
                    emit(wallet_points(in_flight, line, healthy=healthy, load_avg=load))
            if "fanout" in config.benchmarks:
                for subscribers in _progress("fan-out", config.subscribers, "subscribers"):
                    argv = fanout_argv(subscribers, deltas=config.deltas, smoke=config.smoke)
                    fconf = fanout.config_from_args(_parse(fanout.add_arguments, argv))
                    load = _load_avg()
                    ours, node = await fanout.measure_sides(
                        shared, fconf, node_version=node_version
                    )
                    if node is not None:
                        bench_summaries.append(fanout.summary(fconf, ours=ours, node=node))
                    emit(fanout_points(subscribers, ours, node, load_avg=load))
    plots: list[Path] = []
    for name in ("contention", "wallet"):
        if name in config.benchmarks:
            plots.append(
                draw_sweep(
                    points, name, config.out / f"{name}.png", machine=machine, smoke=config.smoke
                )
            )
    if "fanout" in config.benchmarks:
        plots.append(
            draw_fanout(
                points, config.out / "fanout.png", machine=machine, notes=notes, smoke=config.smoke
            )
        )
    machine["load_avg_end"] = _load_avg()
    results = results_document(
        config,
        points,
        machine=machine,
        notes=notes,
        plots=plots,
        bench_summaries=bench_summaries,
        elapsed_s=time.monotonic() - started,
    )
    results_path = config.out / "results.json"
    results_path.write_text(json.dumps(results, indent=1) + "\n")
    return summary(results_path, plots, points, notes=notes, smoke=config.smoke), all(
        p.healthy for p in points
    )


# -- turning bench summaries into points -----------------------------------------------------------


def contention_points(
    clients: int, line: dict[str, Any], *, healthy: bool, load_avg: list[float]
) -> list[Point]:
    points = []
    for variant, side in (("seva", "ours"), ("baseline", "baseline")):
        details = {
            key: line.get(f"{side}_{key}")
            for key in ("ok", "sold_out", "errors", "lost_or_doubled", "mean_batch")
        }
        details.update(
            requests_per_client=line["requests"],
            slots=line["slots"],
            capacity=line["capacity"],
            oversold=line["oversold"],
            load_avg_1m_before=load_avg[0],
        )
        points.append(
            Point(
                benchmark="contention",
                scenario=None,
                variant=variant,  # type: ignore[arg-type]
                x=clients,
                throughput=float(line[f"{side}_ops_per_s"]),
                p50_ms=float(line[f"{side}_p50_ms"]),
                p99_ms=float(line[f"{side}_p99_ms"]),
                healthy=healthy,
                details={k: v for k, v in details.items() if v is not None},
            )
        )
    return points


def wallet_points(
    in_flight: int, line: dict[str, Any], *, healthy: bool, load_avg: list[float]
) -> list[Point]:
    points = []
    for scenario in ("hot", "spread"):
        for variant, side in (("seva", "ours"), ("baseline", "baseline")):
            prefix = f"{scenario}_{side}_"
            details = {
                key: line[prefix + key]
                for key in ("ok", "insufficient", "errors", "lost_or_doubled")
            }
            if side == "ours":
                details["retries"] = line[f"{scenario}_ours_retries"]
                details["mean_batch"] = line[f"{scenario}_ours_mean_batch"]
            details.update(
                ops=line["ops"],
                wallets=1 if scenario == "hot" else line["wallets"],
                violations=line["violations"],
                load_avg_1m_before=load_avg[0],
            )
            points.append(
                Point(
                    benchmark="wallet",
                    scenario=scenario,
                    variant=variant,  # type: ignore[arg-type]
                    x=in_flight,
                    throughput=float(line[prefix + "ops_per_s"]),
                    p50_ms=float(line[prefix + "p50_ms"]),
                    p99_ms=float(line[prefix + "p99_ms"]),
                    healthy=healthy,
                    details=details,
                )
            )
    return points


def fanout_points(
    subscribers: int,
    ours: fanout.SideResult,
    node: fanout.SideResult | None,
    *,
    load_avg: list[float],
) -> list[Point]:
    points = []
    for variant, side in (("seva", ours), ("node", node)):
        if side is None:
            continue
        load = side.load
        points.append(
            Point(
                benchmark="fanout",
                scenario=None,
                variant=variant,  # type: ignore[arg-type]
                x=subscribers,
                throughput=float(load["msgs_per_s"]),
                p50_ms=float(load["p50_ms"]),
                p99_ms=float(load["p99_ms"]),
                healthy=side.healthy,
                details={
                    "last_subscriber_p50_ms": load["fanout_p50_ms"],
                    "kb_per_conn": side.kb_per_conn,
                    "connected": load["connected"],
                    "lost": side.lost,
                    "out_of_order": load["out_of_order"],
                    "duplicates": load["duplicates"],
                    "wrong_values": side.wrong_values,
                    "deltas": side.expected // max(1, subscribers),
                    "load_avg_1m_before": load_avg[0],
                },
            )
        )
    return points


def _ratio(a: float, b: float | None) -> float | None:
    return round(a / b, 2) if b else None


def pair_ratios(seva: Point, other: Point | None) -> dict[str, Any]:
    """Seva over the other side of its pair, rounded to 2 places (None without the other)."""
    if other is None:
        return {"vs": None, "throughput": None, "p50": None, "p99": None}
    return {
        "vs": other.variant,
        "throughput": _ratio(seva.throughput, other.throughput),
        "p50": _ratio(seva.p50_ms, other.p50_ms),
        "p99": _ratio(seva.p99_ms, other.p99_ms),
    }


def pair_lines(points: list[Point]) -> list[dict[str, Any]]:
    """The JSON line of each point, with its pair's ratios (both sides carry the same)."""
    lines = []
    for point in points:
        seva = _pair_member(points, point, "seva")
        assert seva is not None
        other = _pair_member(points, point, "baseline") or _pair_member(points, point, "node")
        lines.append(point_line(point, pair_ratios(seva, other)))
    return lines


def point_line(point: Point, ratios: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": point.benchmark,
        "scenario": point.scenario,
        "variant": point.variant,
        "x": point.x,
        "x_axis": SWEEP_AXES[point.benchmark],
        "throughput": point.throughput,
        "throughput_unit": THROUGHPUT_UNITS[point.benchmark],
        "p50_ms": point.p50_ms,
        "p99_ms": point.p99_ms,
        "ratios": ratios,
        "healthy": point.healthy,
        "details": point.details,
    }


def _pair_member(points: list[Point], point: Point, variant: str) -> Point | None:
    for p in points:
        if (p.benchmark, p.scenario, p.x, p.variant) == (
            point.benchmark,
            point.scenario,
            point.x,
            variant,
        ):
            return p
    return None


def series_key(point: Point) -> str:
    return point.benchmark + (f"_{point.scenario}" if point.scenario else "")


# -- results and summary ------------------------------------------------------------------------


def results_document(
    config: ReportConfig,
    points: list[Point],
    *,
    machine: dict[str, Any],
    notes: list[str],
    plots: list[Path],
    bench_summaries: list[dict[str, Any]],
    elapsed_s: float,
) -> dict[str, Any]:
    return {
        "format": RESULTS_FORMAT,
        "command": "seva " + " ".join(config.argv or ("bench", "all")),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_info(),
        "machine": machine,
        "smoke": config.smoke,
        "elapsed_s": round(elapsed_s, 1),
        "sweeps": {
            name: {
                "x_axis": SWEEP_AXES[name],
                "x": list(config.subscribers if name == "fanout" else config.concurrency),
            }
            for name in config.benchmarks
        },
        "node_skipped": "fanout" in config.benchmarks and machine.get("node_socket_io") is None,
        "notes": notes,
        "plots": [p.name for p in plots],
        "points": pair_lines(points),
        "bench_summaries": bench_summaries,
    }


def summary(
    results_path: Path, plots: list[Path], points: list[Point], *, notes: list[str], smoke: bool
) -> dict[str, Any]:
    """The last line: where the results are, and per series (``contention``, ``wallet_hot``,
    ``wallet_spread``, ``fanout``) Seva's throughput ratio at each level (``<series>_ratios``,
    in ascending x) and at the highest (``<series>_ratio``), with p99 ratios likewise."""
    line: dict[str, Any] = {
        "benchmark": "all",
        "results": str(results_path),
        "plots": [str(p) for p in plots],
    }
    for key in dict.fromkeys(series_key(p) for p in points):
        sevas = sorted(
            (p for p in points if series_key(p) == key and p.variant == "seva"),
            key=lambda p: p.x,
        )
        ratios = [
            pair_ratios(p, _pair_member(points, p, "baseline") or _pair_member(points, p, "node"))
            for p in sevas
        ]
        line[f"{key}_x"] = [p.x for p in sevas]
        line[f"{key}_ratios"] = [r["throughput"] for r in ratios]
        line[f"{key}_p99_ratios"] = [r["p99"] for r in ratios]
        line[f"{key}_ratio"] = ratios[-1]["throughput"] if ratios else None
        line[f"{key}_p99_ratio"] = ratios[-1]["p99"] if ratios else None
    line.update(
        points=len(points),
        healthy=all(p.healthy for p in points),
        node_skipped=any(p.benchmark == "fanout" for p in points)
        and not any(p.variant == "node" for p in points),
        notes=notes,
        smoke=smoke,
    )
    return line


# -- environment -----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "ray": version("ray"),
        "python_socketio": version("python-socketio"),
        "aiohttp": version("aiohttp"),
        "node": _command_output(["node", "--version"]),
        "load_avg_start": _load_avg(),
    }


def git_info() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    commit = _command_output(["git", "-C", str(root), "rev-parse", "HEAD"])
    status = _command_output(["git", "-C", str(root), "status", "--porcelain", "-uno"])
    return {"commit": commit, "dirty": bool(status) if commit else None}


async def _postgres_info(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            name: await server_setting(conn, name)
            for name in ("server_version", "synchronous_commit", "fsync")
        }
    finally:
        await conn.close()


async def _node_or_note() -> tuple[str | None, str | None]:
    """The reference server's socket.io version, or (None, why the Node side is skipped)."""
    try:
        return await fanout.ensure_node_server(), None
    except BenchFailed as exc:
        return None, f"fan-out baseline skipped (no Node.js socket.io server): {exc}"


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _load_avg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def _command_output(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


# -- console -----------------------------------------------------------------------------------


def _progress(name: str, values: tuple[int, ...], unit: str) -> Iterator[int]:
    """Iterate ``values`` under a tqdm bar on stderr (shown only when stderr is a terminal)."""
    from tqdm import tqdm

    bar = tqdm(values, desc=f"{name:<10}", unit="point", file=sys.stderr, disable=None)
    try:
        for value in bar:
            bar.set_postfix_str(f"{unit}={value}")
            if not bar.disable:
                # The bench's own lines follow on stderr: keep this snapshot of the bar on its
                # line rather than have them written over it.
                sys.stderr.write("\n")
            yield value
    finally:
        bar.close()


@contextlib.contextmanager
def _benches_print_to_stderr() -> Iterator[None]:
    """The benches print human-readable lines; here stdout is for the report's JSON lines.

    Plain ``sys.stderr``, not ``tqdm.write``: the hub's threads (Ray's callbacks, logging)
    may print too, and tqdm's write lock taken from them stalled the hub's event loop."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
