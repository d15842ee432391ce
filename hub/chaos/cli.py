"""``seva chaos [SCENARIO|all] [--seed N] [--long] [--json]``.

Prints ``seed: N`` first (a random seed when none is given), each scenario's fault schedule
and progress, one JSON line per scenario, and for ``all`` a final aggregate line; the last
line is always one JSON object. Exit status 0 when nothing acknowledged was lost and verify
found no violation, 1 otherwise, 2 when a scenario could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.chaos.report import ScenarioResult
    from hub.settings import Settings

# The order (1..6); ``all`` runs the registered ones in this order.
ORDER = ("shards", "hub-kill", "postgres-restart", "redis-restart", "gateway-faults", "clock")


MIN_SECS = 5.0  # below that, the multi-process scenarios' faults have no room to happen


def _secs(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not MIN_SECS <= value <= 3600:
        raise argparse.ArgumentTypeError(f"--secs must be between {MIN_SECS:g} and 3600")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        nargs="?",
        default="all",
        help=f"one of {', '.join(ORDER)}, or all (default)",
    )
    parser.add_argument("--seed", type=int, default=None, help="reproduce a run (default: random)")
    parser.add_argument("--long", action="store_true", help="run each scenario for minutes")
    parser.add_argument(
        "--secs",
        type=_secs,
        default=None,
        help=f"seconds of workload under faults, at least {MIN_SECS:g} "
        "(default 12, or 180 with --long)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="only JSON lines (after the seed line) on stdout; progress goes to stderr",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep each scenario's database for inspection"
    )


def scenario_names(requested: str) -> list[str]:
    """The scenarios to run, in order; ``ValueError`` naming the known ones."""
    from hub.chaos.registry import SCENARIOS

    known = [name for name in ORDER if name in SCENARIOS]
    known += [name for name in SCENARIOS if name not in ORDER]
    if requested == "all":
        return known
    if requested not in SCENARIOS:
        raise ValueError(f"unknown scenario {requested!r}; known: {', '.join(known)}, all")
    return [requested]


def run_from_args(settings: Settings, args: argparse.Namespace) -> int:
    try:
        names = scenario_names(args.scenario)
    except ValueError as exc:
        print(f"seva chaos: {exc}", file=sys.stderr)
        print(json.dumps({"scenario": args.scenario, "error": str(exc)}))
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    # One access-log line per request would bury the schedule and the results.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    print(f"seed: {seed}", flush=True)

    def out(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    return asyncio.run(
        _run(
            settings,
            names,
            seed,
            secs=args.secs,
            long=args.long,
            keep_data=args.keep_data,
            out=out,
            aggregate_line=args.scenario == "all",
        )
    )


async def _run(
    settings: Settings,
    names: Sequence[str],
    seed: int,
    *,
    secs: float | None,
    long: bool,
    keep_data: bool,
    out: Callable[[str], None],
    aggregate_line: bool,
) -> int:
    from hub.chaos.options import ChaosOptions
    from hub.chaos.registry import SCENARIOS
    from hub.chaos.report import ScenarioResult, aggregate
    from hub.cli import database

    results: list[ScenarioResult] = []
    broken = False
    async with database(settings) as server_dsn:
        for name in names:
            options = ChaosOptions(
                seed=seed, long=long, dsn=server_dsn, keep_data=keep_data, out=out, secs=secs
            )
            try:
                result = await SCENARIOS[name](options)
            except Exception as exc:  # reported as this scenario's JSON line
                broken = True
                out(f"chaos {name} could not run: {exc!r}")
                result = ScenarioResult(name, seed, 0, 0, 0, 0, [], details={"error": repr(exc)})
            results.append(result)
            print(result.json_line(), flush=True)
    if aggregate_line:
        total = aggregate(seed, results)
        if broken:
            total.details["error"] = "a scenario could not run"
        print(total.json_line(), flush=True)
    if broken:
        return 2
    return 0 if all(r.healthy for r in results) else 1
