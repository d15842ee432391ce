"""``seva bench wallet``: concurrent debits, the wallet actors against a plain backend's UPDATE.

One run measures both sides on the same PostgreSQL server (the embedded default when
``DATABASE_URL`` is unset) with ``synchronous_commit`` on (checked, not assumed), in a scratch
database that is created, migrated and dropped at the end (``--keep-data`` keeps it). Each side
fires the same ``--ops`` debits of :data:`DEBIT_PAISE`, at most ``--concurrency`` in flight
(a closed loop), in two scenarios:

- ``hot``: every debit on one wallet, funded for half of them, so both the success and the
  insufficient-funds path run and every debit of that wallet queues behind the others;
- ``spread``: ``--wallets`` wallets, the debits dealt out evenly (then shuffled), each wallet
  funded for half of its debits.

The sides:

1. **baseline**: what a plain backend does (:mod:`storage.bench_wallet`): one transaction per
   debit on an asyncpg pool of ``--baseline-pool``: ``UPDATE bench_balances SET balance =
   balance - $1 WHERE wallet_id = $2 AND balance >= $1`` and, if a row changed, a
   ``bench_ledger`` insert;
2. **ours**: :class:`hub.wallets.WalletService` over the wallet :class:`actors.pool.ShardPool`
   (``WalletShard`` actors on Ray, group commit with version fencing), in this process. There
   is no Socket.IO in this path: the wallet API has no socket write event, so neither side pays
   for a transport.

The baseline goes first, so Ray is not running while it is measured. Afterwards
:func:`storage.ledger_verify.verify_ledger` checks our ledger and
:func:`storage.bench_wallet.audit_baseline` the baseline's tables; ``violations`` is the sum.
Successful answers are also compared with stored debit rows (``lost_or_doubled``). Ours may
answer ``unavailable``, which by contract means "send the same transfer again"; the bench
resends it (same transfer id) as a client would, and reports the resends (``*_ours_retries``).

Output: one human-readable line per scenario and side on stdout, then, as the very last line,
one JSON object (keys in :func:`summary`; the headline keys are the ``hot`` scenario's). Exit
status 0; 1 if an integrity check failed; 2 if the bench could not run (then the last line is
``{"bench": "wallet", "error": ...}``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from hub.bench.loadgen import percentile
from hub.bench.scratch import (
    BenchFailed,
    check_synchronous_commit,
    positive_int,
    run_bench,
    scratch_database,
)
from hub.settings import Settings
from storage.bench import (
    checkpoint,
    server_setting,
)
from storage.bench_wallet import (
    BENCH_DEBIT_CODE,
    audit_baseline,
    count_ledger_debits,
    create_baseline_tables,
    create_baseline_wallets,
    create_bench_ledger_wallets,
    debit_with_conditional_update,
)

if TYPE_CHECKING:
    from actors.ledger import TransferSpec
    from hub.wallets import WalletService

log = logging.getLogger("seva.bench")

DEFAULT_OPS = 20_000
DEFAULT_WALLETS = 1000
DEFAULT_CONCURRENCY = 500
SMOKE_OPS = 300
SMOKE_WALLETS = 20
SMOKE_CONCURRENCY = 50
DEFAULT_BASELINE_POOL = 50
DEFAULT_CALL_TIMEOUT_SECS = 60.0
DEBIT_PAISE = 100
SERVICE_POOL_SIZE = 10  # WalletService reads an account once, to learn whether it is limited
INSUFFICIENT = "insufficient"
# ``unavailable`` is retryable by contract (send the same transfer id again); the bench does
# what a client should, and counts every resend.
MAX_UNAVAILABLE_RETRIES = 10
UNAVAILABLE_RETRY_PAUSE_SECS = 0.05


@dataclasses.dataclass(frozen=True)
class WalletBenchConfig:
    ops: int
    wallets: int
    concurrency: int
    shards: int
    baseline_pool: int
    call_timeout_secs: float
    seed: int
    smoke: bool
    keep_data: bool


@dataclasses.dataclass(frozen=True)
class Scenario:
    """The same debits for both sides: which wallet each one hits, and what each wallet holds."""

    name: str
    plan: list[int]  # wallet index of each debit, in the order they are started
    funded_paise: list[int]  # per wallet

    @property
    def expected_ok(self) -> int:
        """Debits that must succeed: each wallet pays for as many as its funds cover."""
        counts = Counter(self.plan)
        return sum(
            min(counts[w], funded // DEBIT_PAISE) for w, funded in enumerate(self.funded_paise)
        )


def build_scenario(name: str, *, ops: int, wallets: int, seed: int) -> Scenario:
    """``ops`` debits dealt evenly over ``wallets`` wallets in a seeded random order; each
    wallet funded for half (rounded down) of the debits it will see."""
    plan = [i % wallets for i in range(ops)]
    random.Random(f"{seed}-{name}").shuffle(plan)
    counts = Counter(plan)
    return Scenario(
        name=name,
        plan=plan,
        funded_paise=[counts[w] // 2 * DEBIT_PAISE for w in range(wallets)],
    )


@dataclasses.dataclass
class Tally:
    ok: int = 0
    insufficient: int = 0
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    retries: int = 0  # resends after a retryable answer (ours: ``unavailable``)

    def record(self, outcome: str, latency_ms: float) -> None:
        """``ok`` and ``insufficient`` are answers (ops, with a latency); anything else is an
        error counted by kind."""
        if outcome == "ok":
            self.ok += 1
        elif outcome == INSUFFICIENT:
            self.insufficient += 1
        else:
            self.errors[outcome] += 1
            return
        self.latencies_ms.append(latency_ms)


@dataclasses.dataclass(frozen=True)
class SideResult:
    """One side's run of one scenario, and what the database holds afterwards."""

    side: str
    scenario: str
    tally: Tally
    elapsed_s: float
    stored_debits: int
    audit_violations: int = 0  # the baseline's own audit; ours is verified once, at the end
    mean_batch: float | None = None
    max_batch: int | None = None

    @property
    def ops(self) -> int:
        return self.tally.ok + self.tally.insufficient

    @property
    def ops_per_s(self) -> float:
        return round(self.ops / self.elapsed_s, 1) if self.elapsed_s > 0 else 0.0

    def latency_ms(self, fraction: float) -> float:
        return round(percentile(sorted(self.tally.latencies_ms), fraction), 2)

    @property
    def errors(self) -> int:
        return sum(self.tally.errors.values())

    @property
    def lost_or_doubled(self) -> int:
        """Successful answers minus stored debit rows: negative = rows nobody was told about,
        positive = successes without a row."""
        return self.tally.ok - self.stored_debits


# -- CLI -------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ops",
        type=positive_int,
        default=None,
        help=f"debits per scenario and side (default {DEFAULT_OPS}; {SMOKE_OPS} with --smoke)",
    )
    parser.add_argument(
        "--wallets",
        type=positive_int,
        default=None,
        help=f"wallets of the spread scenario "
        f"(default {DEFAULT_WALLETS}; {SMOKE_WALLETS} with --smoke)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        help=f"debits in flight at once (default {DEFAULT_CONCURRENCY}; "
        f"{SMOKE_CONCURRENCY} with --smoke)",
    )
    parser.add_argument(
        "--shards",
        type=positive_int,
        default=None,
        help="wallet shard actors (default: SEVA_WALLET_SHARDS, else SEVA_SHARDS)",
    )
    parser.add_argument(
        "--baseline-pool",
        type=positive_int,
        default=DEFAULT_BASELINE_POOL,
        help=f"PostgreSQL connections of the baseline (default {DEFAULT_BASELINE_POOL})",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=DEFAULT_CALL_TIMEOUT_SECS,
        help=f"seconds one debit may take before it counts as a timeout "
        f"(default {DEFAULT_CALL_TIMEOUT_SECS:g})",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the debit order")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run for CI: proves it works, not how fast"
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the run's scratch database (not dropped)"
    )


def config_from_args(settings: Settings, args: argparse.Namespace) -> WalletBenchConfig:
    def pick(value: int | None, default: int, smoke_default: int) -> int:
        if value is not None:
            return value
        return smoke_default if args.smoke else default

    return WalletBenchConfig(
        ops=pick(args.ops, DEFAULT_OPS, SMOKE_OPS),
        wallets=pick(args.wallets, DEFAULT_WALLETS, SMOKE_WALLETS),
        concurrency=pick(args.concurrency, DEFAULT_CONCURRENCY, SMOKE_CONCURRENCY),
        shards=args.shards or settings.wallet_shards or settings.shards,
        baseline_pool=args.baseline_pool,
        call_timeout_secs=args.call_timeout,
        seed=args.seed,
        smoke=args.smoke,
        keep_data=args.keep_data,
    )


def run_from_args(settings: Settings, args: argparse.Namespace) -> int:
    config = config_from_args(settings, args)
    return run_bench("wallet", lambda: run(settings, config))


# -- the run -------------------------------------------------------------------------------------


async def run(settings: Settings, config: WalletBenchConfig) -> tuple[dict[str, Any], bool]:
    """Run both sides over both scenarios; print one line each; return the JSON summary and
    whether the integrity checks passed."""
    from hub.cli import database
    from storage.ledger_verify import verify_ledger

    scenarios = [
        build_scenario("hot", ops=config.ops, wallets=1, seed=config.seed),
        build_scenario("spread", ops=config.ops, wallets=config.wallets, seed=config.seed),
    ]
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
        needed = config.baseline_pool + SERVICE_POOL_SIZE + 4 * config.shards + 10
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
        baseline = await _run_baseline(dsn, config, scenarios)
        ours = await _run_ours(settings, dsn, config, scenarios)
        conn = await asyncpg.connect(dsn)
        try:
            report = await verify_ledger(conn)
        finally:
            await conn.close()
    ledger_violations = int(report["violations"])
    baseline_violations = sum(r.audit_violations for r in baseline.values())
    failed = sorted(name for name, check in report["checks"].items() if not check["ok"])
    print(
        f"audit: ours verify_ledger violations {ledger_violations}"
        + (f" ({', '.join(failed)})" if failed else "")
        + f"; baseline balance/ledger violations {baseline_violations}",
        flush=True,
    )
    line = summary(
        config,
        server,
        scenarios,
        ours=ours,
        baseline=baseline,
        ledger_violations=ledger_violations,
        baseline_violations=baseline_violations,
    )
    healthy = line["violations"] == 0 and all(
        r.lost_or_doubled == 0 for r in (*ours.values(), *baseline.values())
    )
    return line, healthy


async def _before_timed_phase(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        check_synchronous_commit(await server_setting(conn, "synchronous_commit"))
        # Start each timed phase from a clean slate rather than let a checkpoint land in one.
        await checkpoint(conn)
    finally:
        await conn.close()


async def _drive(
    ops: int,
    debit: Callable[[int, Tally], Awaitable[str]],
    *,
    concurrency: int,
    timeout_secs: float,
) -> tuple[Tally, float]:
    """Run ``debit(0..ops-1, tally)`` with at most ``concurrency`` in flight; returns the tally
    and the seconds from the first start to the last answer. ``debit`` returns its outcome and
    counts its own resends in ``tally.retries``."""
    tally = Tally()
    next_op = iter(range(ops))

    async def worker() -> None:
        # Workers share one iterator: each takes the next debit when its previous one answers.
        for index in next_op:
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(timeout_secs):
                    outcome = await debit(index, tally)
            except TimeoutError:
                outcome = "timeout"
            tally.record(outcome, (time.perf_counter() - sent) * 1000.0)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, ops)):
            group.create_task(worker())
    return tally, time.perf_counter() - started


async def _run_baseline(
    dsn: str, config: WalletBenchConfig, scenarios: list[Scenario]
) -> dict[str, SideResult]:
    conn = await asyncpg.connect(dsn)
    try:
        await create_baseline_tables(conn)
        wallets = {
            s.name: await create_baseline_wallets(conn, funded_paise=s.funded_paise)
            for s in scenarios
        }
    finally:
        await conn.close()
    results: dict[str, SideResult] = {}
    log.info("baseline: opening %d connections", config.baseline_pool)
    # Every connection is opened up front: connecting is not what the bench measures.
    pool = await asyncpg.create_pool(
        dsn, min_size=config.baseline_pool, max_size=config.baseline_pool
    )
    try:
        for scenario in scenarios:
            ids = wallets[scenario.name]
            plan = scenario.plan

            async def debit(
                index: int, tally: Tally, ids: list[uuid.UUID] = ids, plan: list[int] = plan
            ) -> str:
                try:
                    async with pool.acquire() as conn:
                        took = await debit_with_conditional_update(
                            conn, wallet_id=ids[plan[index]], amount_paise=DEBIT_PAISE
                        )
                except (asyncpg.PostgresError, OSError) as exc:
                    return f"db:{type(exc).__name__}"
                return "ok" if took else INSUFFICIENT

            await _before_timed_phase(dsn)
            tally, elapsed = await _drive(
                len(plan),
                debit,
                concurrency=config.concurrency,
                timeout_secs=config.call_timeout_secs,
            )
            async with pool.acquire() as conn:
                audit = await audit_baseline(conn, wallet_ids=ids)
            result = SideResult(
                side="baseline",
                scenario=scenario.name,
                tally=tally,
                elapsed_s=elapsed,
                stored_debits=audit.ledger_rows,
                audit_violations=audit.violations,
            )
            print(_side_line(result, config), flush=True)
            results[scenario.name] = result
    finally:
        await pool.close()
    return results


async def _run_ours(
    settings: Settings, dsn: str, config: WalletBenchConfig, scenarios: list[Scenario]
) -> dict[str, SideResult]:
    import ray

    from actors.ledger import TransferSpec
    from actors.pool import ShardPool
    from actors.wallet_shard import WalletShard
    from hub.ray_runtime import ensure_ray
    from hub.wallets import WalletService

    # The accounts exist and are funded before any shard can load them.
    conn = await asyncpg.connect(dsn)
    try:
        accounts = {
            s.name: await create_bench_ledger_wallets(
                conn, label=f"wallet-{s.name}", funded_paise=s.funded_paise
            )
            for s in scenarios
        }
    finally:
        await conn.close()
    namespace = f"seva-bench-{uuid.uuid4().hex[:8]}"
    run_tag = uuid.uuid4().hex[:8]
    results: dict[str, SideResult] = {}
    log.info("ours: starting %d wallet shard(s) on Ray", config.shards)
    started_ray = ensure_ray(None, namespace=namespace)
    try:
        shards = ShardPool(
            dsn=dsn,
            shard_count=config.shards,
            namespace=namespace,
            name_prefix="seva-wallet",
            actor_cls=WalletShard,
            route=lambda command: command.wallet_id,
            max_batch=settings.max_batch,
        )
        db_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=SERVICE_POOL_SIZE)
        try:
            await shards.start()
            service = WalletService(db_pool=db_pool, wallets=shards)
            for scenario in scenarios:
                wallets = accounts[scenario.name]
                ids, revenue, plan = wallets.wallet_ids, wallets.revenue_id, scenario.plan
                prefix = f"bench-{run_tag}-{scenario.name}"

                async def debit(
                    index: int,
                    tally: Tally,
                    ids: list[uuid.UUID] = ids,
                    revenue: uuid.UUID = revenue,
                    plan: list[int] = plan,
                    prefix: str = prefix,
                ) -> str:
                    spec = TransferSpec(
                        f"{prefix}-{index}",
                        ids[plan[index]],
                        revenue,
                        DEBIT_PAISE,
                        code=BENCH_DEBIT_CODE,
                    )
                    return await _debit_through_actors(service, spec, tally)

                await _before_timed_phase(dsn)
                shards.batch_sizes.clear()
                tally, elapsed = await _drive(
                    len(plan),
                    debit,
                    concurrency=config.concurrency,
                    timeout_secs=config.call_timeout_secs,
                )
                batches = list(shards.batch_sizes)
                async with db_pool.acquire() as conn:
                    stored = await count_ledger_debits(conn, wallet_ids=ids)
                result = SideResult(
                    side="ours",
                    scenario=scenario.name,
                    tally=tally,
                    elapsed_s=elapsed,
                    stored_debits=stored,
                    mean_batch=round(sum(batches) / len(batches), 1) if batches else None,
                    max_batch=max(batches) if batches else None,
                )
                print(_side_line(result, config), flush=True)
                results[scenario.name] = result
        finally:
            await shards.stop()
            await db_pool.close()
    finally:
        if started_ray:
            ray.shutdown()
    return results


async def _debit_through_actors(service: WalletService, spec: TransferSpec, tally: Tally) -> str:
    """One debit as a well-behaved client makes it: ``unavailable`` means "send the same transfer
    again" (it is idempotent by id), so it is resent up to :data:`MAX_UNAVAILABLE_RETRIES`
    times; every resend is counted."""
    from protocols.errors import InsufficientFunds, SevaError, Unavailable

    for attempt in range(MAX_UNAVAILABLE_RETRIES + 1):
        try:
            await service.apply((spec,))
        except InsufficientFunds:
            return INSUFFICIENT
        except Unavailable:
            if attempt == MAX_UNAVAILABLE_RETRIES:
                break
            tally.retries += 1
            await asyncio.sleep(UNAVAILABLE_RETRY_PAUSE_SECS)
        except SevaError as exc:
            return exc.code
        else:
            return "ok"
    return Unavailable.code


# -- report ----------------------------------------------------------------------------------------


def _header(config: WalletBenchConfig, server: dict[str, str]) -> str:
    mode = " (smoke)" if config.smoke else ""
    return (
        f"seva bench wallet{mode}: {config.ops} debits of {DEBIT_PAISE} paise per scenario and "
        f"side, {config.concurrency} in flight; hot = 1 wallet, spread = {config.wallets} "
        f"wallets, each funded for half its debits; "
        f"PostgreSQL {server['server_version']} (database {server['database']}), "
        f"synchronous_commit={server['synchronous_commit']}, fsync={server['fsync']}; "
        "in-process calls, no Socket.IO (the wallet API has no socket write event)"
    )


def _side_line(result: SideResult, config: WalletBenchConfig) -> str:
    if result.side == "ours":
        label = f"ours     (WalletService -> wallet actor, {config.shards} shard(s), group commit)"
    else:
        label = (
            f"baseline (1 txn/debit: conditional UPDATE + ledger INSERT, "
            f"pool {config.baseline_pool})"
        )
    errors = ", ".join(f"{k}={v}" for k, v in sorted(result.tally.errors.items())) or "0"
    line = (
        f"{result.scenario:<6} {label}: {result.ops_per_s:.1f} ops/s  ok {result.tally.ok}  "
        f"insufficient {result.tally.insufficient}  errors {errors}  "
        f"p50 {result.latency_ms(0.50):.1f} ms  p99 {result.latency_ms(0.99):.1f} ms  "
        f"lost_or_doubled {result.lost_or_doubled}"
    )
    if result.side == "ours":
        line += f"  unavailable-retries {result.tally.retries}"
    if result.side == "baseline":
        line += f"  audit violations {result.audit_violations}"
    if result.mean_batch is not None:
        line += f"  mean batch {result.mean_batch} (max {result.max_batch})"
    return line + f"  [timed phase {result.elapsed_s:.1f} s]"


def _ratio(ours: SideResult, baseline: SideResult) -> float | None:
    return round(ours.ops_per_s / baseline.ops_per_s, 2) if baseline.ops_per_s > 0 else None


def summary(
    config: WalletBenchConfig,
    server: dict[str, str],
    scenarios: list[Scenario],
    *,
    ours: dict[str, SideResult],
    baseline: dict[str, SideResult],
    ledger_violations: int,
    baseline_violations: int,
) -> dict[str, Any]:
    """The JSON line. The headline keys (``ours_ops_per_s`` ... ``baseline_p99_ms``) are the
    ``hot`` scenario's; every scenario also has ``<scenario>_<side>_<metric>`` keys."""
    hot_ours, hot_base = ours["hot"], baseline["hot"]
    line: dict[str, Any] = {
        "bench": "wallet",
        "ours_ops_per_s": hot_ours.ops_per_s,
        "baseline_ops_per_s": hot_base.ops_per_s,
        "ratio": _ratio(hot_ours, hot_base),
        "ours_p99_ms": hot_ours.latency_ms(0.99),
        "baseline_p99_ms": hot_base.latency_ms(0.99),
        "violations": ledger_violations + baseline_violations,
        "ours_p50_ms": hot_ours.latency_ms(0.50),
        "baseline_p50_ms": hot_base.latency_ms(0.50),
    }
    for scenario in scenarios:
        name = scenario.name
        line[f"{name}_ratio"] = _ratio(ours[name], baseline[name])
        line[f"{name}_expected_ok"] = scenario.expected_ok
        for side, result in (("ours", ours[name]), ("baseline", baseline[name])):
            prefix = f"{name}_{side}_"
            line[prefix + "ops_per_s"] = result.ops_per_s
            line[prefix + "p50_ms"] = result.latency_ms(0.50)
            line[prefix + "p99_ms"] = result.latency_ms(0.99)
            line[prefix + "ok"] = result.tally.ok
            line[prefix + "insufficient"] = result.tally.insufficient
            line[prefix + "errors"] = result.errors
            line[prefix + "lost_or_doubled"] = result.lost_or_doubled
        line[f"{name}_ours_retries"] = ours[name].tally.retries
        line[f"{name}_ours_mean_batch"] = ours[name].mean_batch
    line.update(
        {
            "ledger_violations": ledger_violations,
            "baseline_violations": baseline_violations,
            "ops": config.ops,
            "wallets": config.wallets,
            "concurrency": config.concurrency,
            "debit_paise": DEBIT_PAISE,
            "shards": config.shards,
            "baseline_pool": config.baseline_pool,
            "transport": "in-process (no Socket.IO)",
            "smoke": config.smoke,
            "synchronous_commit": server["synchronous_commit"],
            "fsync": server["fsync"],
        }
    )
    return line
