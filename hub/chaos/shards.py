"""Scenario 1, ``shards``: kill Ray shard actors (tenant and wallet) repeatedly under load.

``ray.kill(handle, no_restart=False)`` on a seeded shard of the tenant pool or the wallet
pool; Ray restarts the process (``max_restarts=-1``), which rebuilds its state from PostgreSQL,
and the pool sends the batch in flight again. Acknowledged holds, payments and transfers must
all be there once, and ``seva verify`` must be clean.
"""

from __future__ import annotations

import random
from typing import Any

from hub import keys
from hub.chaos.driver import drive
from hub.chaos.env import chaos_environment
from hub.chaos.options import ChaosOptions
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import ScheduledFault, build_schedule

SHARDS = 2
KINDS = ("kill_tenant_shard", "kill_wallet_shard")


def schedule_for(options: ChaosOptions) -> list[ScheduledFault]:
    def params(rng: random.Random, _kind: str) -> dict[str, Any]:
        return {"shard": rng.randrange(SHARDS)}

    return build_schedule(
        "shards",
        options.seed,
        duration_secs=options.duration_secs - 1.0,
        kinds=KINDS,
        mean_gap_secs=6.0 if options.long else 2.5,
        params=params,
    )


async def run_shards(options: ChaosOptions) -> ScenarioResult:
    import ray

    schedule = schedule_for(options)
    async with chaos_environment(options, shards=SHARDS, wallet_shards=SHARDS) as env:
        app = env.hubs[0].app

        async def inject(fault: ScheduledFault) -> None:
            pool = (
                app[keys.SHARDS] if fault.fault == "kill_tenant_shard" else app[keys.WALLET_SHARDS]
            )
            ray.kill(pool.handle(fault.params["shard"] % pool.shard_count), no_restart=False)

        return await drive(
            "shards",
            options,
            urls=env.urls,
            dsn=env.dsn,
            emulators=env.emulators,
            schedule=schedule,
            inject=inject,
        )
