"""Scenario 4, ``redis-restart``: stop redis-server under a two-hub cluster and start it again.

Redis carries only what one hub emits to sockets on another (user rooms, python-socketio's
manager); bookings, payments and availability deltas do not depend on it. At seeded times
Redis is killed, stays down a seeded while and comes back (empty) on the same port. The hubs
must reconnect (each listener re-subscribes and tells its sockets ``feed:resync``), the
subscribers resume by ``since`` without a gap, and after the run a notice sent through hub
``a`` must reach every subscriber on both hubs (cross-hub events resumed). Nothing
acknowledged may be lost and ``seva verify`` must be clean.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hub.chaos.options import ChaosOptions
from hub.chaos.process_env import drive_watched, process_environment
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import ScheduledFault, build_schedule


def schedule_for(options: ChaosOptions) -> list[ScheduledFault]:
    def params(rng: random.Random, _kind: str) -> dict[str, Any]:
        return {"down_secs": round(rng.uniform(1.0, 3.0), 1)}

    return build_schedule(
        "redis-restart",
        options.seed,
        duration_secs=options.fault_window_secs(4.0),
        kinds=("restart_redis",),
        mean_gap_secs=25.0 if options.long else 5.0,
        params=params,
    )


async def run_redis_restart(options: ChaosOptions) -> ScenarioResult:
    schedule = schedule_for(options)
    async with process_environment(options, hubs=("a", "b")) as env:
        redis = env.cluster.redis

        async def inject(fault: ScheduledFault) -> None:
            redis.stop()
            await asyncio.sleep(fault.params["down_secs"])
            await redis.start()

        return await drive_watched(
            "redis-restart", options, env, schedule=schedule, inject=inject, probe_cross_hub=True
        )
