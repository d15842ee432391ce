"""The chaos scenarios by name (the names are a contract: ``seva chaos <name>``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hub.chaos.clock import run_clock
from hub.chaos.gateway_faults import run_gateway_faults
from hub.chaos.hub_kill import run_hub_kill
from hub.chaos.options import ChaosOptions
from hub.chaos.postgres_restart import run_postgres_restart
from hub.chaos.redis_restart import run_redis_restart
from hub.chaos.report import ScenarioResult
from hub.chaos.shards import run_shards

__all__ = ["SCENARIOS", "ChaosOptions", "ScenarioFn", "ScenarioResult"]

ScenarioFn = Callable[[ChaosOptions], Awaitable[ScenarioResult]]

# In the order: 1 shards, 2 hub-kill, 3 postgres-restart, 4 redis-restart,
# 5 gateway-faults, 6 clock. Each runs the mixed workload (hub.chaos.workload), injects its
# faults on a seeded schedule (hub.chaos.schedule), then counts what was lost and verify's
# violations.
SCENARIOS: dict[str, ScenarioFn] = {
    "shards": run_shards,
    "hub-kill": run_hub_kill,
    "postgres-restart": run_postgres_restart,
    "redis-restart": run_redis_restart,
    "gateway-faults": run_gateway_faults,
    "clock": run_clock,
}
