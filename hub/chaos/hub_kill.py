"""Scenario 2, ``hub-kill``: ``kill -9`` a hub process of a two-hub cluster under load.

Two ``seva serve`` processes share one Ray head, one redis-server and PostgreSQL. At seeded
times one of them (seeded) is killed with SIGKILL (with its whole process group), stays down a
seeded while, and is started again on the same port. The workload's clients fail over to the
other hub and retry with the same idempotency keys; availability subscribers reconnect there
and resume with ``since``. Nothing acknowledged may be lost, no subscriber may miss a ``seq``,
and ``seva verify`` must be clean.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hub.chaos.options import ChaosOptions
from hub.chaos.process_env import drive_watched, process_environment
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import ScheduledFault, build_schedule

HUBS = ("a", "b")


def schedule_for(options: ChaosOptions) -> list[ScheduledFault]:
    def params(rng: random.Random, _kind: str) -> dict[str, Any]:
        return {"hub": rng.choice(HUBS), "down_secs": round(rng.uniform(0.5, 2.5), 1)}

    return build_schedule(
        "hub-kill",
        options.seed,
        duration_secs=options.fault_window_secs(4.0),
        kinds=("kill_hub",),
        mean_gap_secs=25.0 if options.long else 6.0,
        params=params,
    )


async def run_hub_kill(options: ChaosOptions) -> ScenarioResult:
    schedule = schedule_for(options)
    async with process_environment(options, hubs=HUBS) as env:

        async def inject(fault: ScheduledFault) -> None:
            # One fault at a time (the schedule waits for this one): the other hub stays up.
            hub = env.cluster.hubs[fault.params["hub"]]
            hub.crash()
            await asyncio.sleep(fault.params["down_secs"])
            await hub.start()

        return await drive_watched("hub-kill", options, env, schedule=schedule, inject=inject)
