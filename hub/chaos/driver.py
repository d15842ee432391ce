"""The part every scenario shares: print the schedule, set up and run the workload, inject
the faults on time, let the hub settle, then count what was lost and verify's violations."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg

from hub.chaos.options import ChaosOptions
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import Injector, ScheduledFault, format_schedule, run_schedule
from hub.chaos.workload import Workload

LOST_KEPT = 20  # lost operations named in the report's details


async def drive(
    scenario: str,
    options: ChaosOptions,
    *,
    urls: Sequence[str],
    dsn: str,
    emulators: Mapping[str, str] | None,
    schedule: Sequence[ScheduledFault],
    inject: Injector,
    workload_options: Mapping[str, Any] | None = None,
    after_run: Callable[[Workload], Awaitable[None]] | None = None,
    settle_secs: float = 45.0,
    verify_grace_secs: float = 10.0,
) -> ScenarioResult:
    """Run ``scenario``: the workload on ``urls`` for ``options.duration_secs`` while
    ``inject`` applies ``schedule``; then ``after_run`` (e.g. release parked webhooks), the
    settle wait (``Workload.settle``), ``Workload.lost`` and ``verify_all`` with
    ``verify_grace_secs`` (work younger than that is in flight)."""
    from storage.verify import verify_all

    options.out(f"chaos {scenario}: seed {options.seed}, {options.duration_secs:.0f}s")
    options.out(format_schedule(scenario, options.seed, schedule))
    started = time.monotonic()
    workload = Workload(
        urls,
        dsn,
        random.Random(f"workload:{scenario}:{options.seed}"),
        options.users,
        emulators=emulators,
        log=options.out,
        **dict(workload_options or {}),
    )
    try:
        await workload.setup()
        phases = {"setup": time.monotonic() - started}
        options.out(
            f"workload ready ({options.users} users) in {phases['setup']:.1f}s, "
            "running under faults ..."
        )
        stop = asyncio.Event()
        running = asyncio.create_task(workload.run(stop))
        faults: list[str] = []

        async def clock() -> None:
            faults.extend(await run_schedule(schedule, inject, stop=stop))

        injecting = asyncio.create_task(clock())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(running), timeout=options.duration_secs)
        finally:
            stop.set()
            await injecting
            await running
        phases["run"] = time.monotonic() - started - sum(phases.values())
        if after_run is not None:
            await after_run(workload)
        settled = await workload.settle(within_secs=settle_secs)
        phases["settle"] = time.monotonic() - started - sum(phases.values())
        conn = await asyncpg.connect(dsn)
        try:
            lost = await workload.lost(conn)
            report = await verify_all(conn, grace_secs=verify_grace_secs)
        finally:
            await conn.close()
    finally:
        await workload.close()
    failed = {name: check["details"] for name, check in report["checks"].items() if not check["ok"]}
    for line in lost[:LOST_KEPT]:
        options.out(f"LOST {line}")
    for name, details in failed.items():
        options.out(f"VIOLATION {name}: {details}")
    return ScenarioResult(
        scenario=scenario,
        seed=options.seed,
        attempted=workload.attempted,
        acknowledged=workload.acknowledged,
        lost=len(lost),
        violations=int(report["violations"]),
        faults=faults,
        details={
            **workload.details(),
            "settled": settled,
            "lost_ops": lost[:LOST_KEPT],
            "failed_checks": failed,
            "schedule": len(schedule),
            "phase_secs": {name: round(secs, 2) for name, secs in phases.items()},
        },
        duration_secs=time.monotonic() - started,
    )
