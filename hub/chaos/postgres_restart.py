"""Scenario 3, ``postgres-restart``: ``pg_ctl restart -m immediate`` under a two-hub cluster.

The run has a PostgreSQL cluster of its own (``hub.chaos.processes.PrivatePostgres``). At
seeded times the server quits without a checkpoint — every connection of every hub, shard
actor and listener is cut mid-transaction — and starts again with crash recovery. What a hub
acknowledged was committed before the answer, so all of it must be there afterwards; the
hubs' pools and listeners must reconnect on their own (``/readyz`` ready again), and the
subscribers must not miss a ``seq`` (a listener that reconnects reads what it missed).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp

from hub.chaos.options import ChaosOptions
from hub.chaos.process_env import ProcessEnv, drive_watched, process_environment
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import ScheduledFault, build_schedule

READY_WITHIN_SECS = 60.0


def schedule_for(options: ChaosOptions) -> list[ScheduledFault]:
    def params(rng: random.Random, _kind: str) -> dict[str, Any]:
        return {}

    return build_schedule(
        "postgres-restart",
        options.seed,
        duration_secs=options.fault_window_secs(4.0),
        kinds=("restart_postgres",),
        mean_gap_secs=30.0 if options.long else 5.0,
        start_secs=2.0,
        params=params,
    )


async def wait_ready(env: ProcessEnv, *, within_secs: float = READY_WITHIN_SECS) -> float:
    """Seconds until every hub answers ``/readyz`` with 200; TimeoutError after
    ``within_secs``."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        for url in env.urls:
            while True:
                try:
                    async with http.get(f"{url}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() - started > within_secs:
                    raise TimeoutError(f"{url} not ready {within_secs}s after PostgreSQL restarted")
                await asyncio.sleep(0.2)
    return time.monotonic() - started


async def run_postgres_restart(options: ChaosOptions) -> ScenarioResult:
    schedule = schedule_for(options)
    async with process_environment(options, hubs=("a", "b"), own_postgres=True) as env:
        postgres = env.postgres
        assert postgres is not None
        ready_after: list[float] = []

        async def inject(fault: ScheduledFault) -> None:
            await postgres.restart_immediate()
            ready_after.append(round(await wait_ready(env), 2))

        result = await drive_watched(
            "postgres-restart", options, env, schedule=schedule, inject=inject
        )
        result.details["ready_after_restart_secs"] = ready_after
        return result
