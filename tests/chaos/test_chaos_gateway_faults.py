"""Scenario 5 (``gateway-faults``), small: gateway 500s, timeouts and slow calls, webhook
storms (x50, reordered), dropped webhooks settled by reconciliation and webhooks delivered a
hold TTL late; money never doubles and nothing acknowledged is lost."""

from __future__ import annotations

import pytest

from hub.chaos.gateway_faults import KINDS, STORM_COPIES, run_gateway_faults, schedule_for
from hub.chaos.options import ChaosOptions

pytestmark = pytest.mark.timeout(180)


def test_the_same_seed_gives_the_same_fault_schedule():
    first = schedule_for(ChaosOptions(seed=5))
    assert first == schedule_for(ChaosOptions(seed=5))
    assert first != schedule_for(ChaosOptions(seed=6))
    assert {f.fault for f in first} == set(KINDS)  # every kind at least once in a small run


async def test_gateway_faults_and_webhook_storms_double_and_lose_nothing(pg_dsn: str, ray_session):
    lines: list[str] = []
    # Seed 5 schedules every kind of fault, a storm and a parked (late) batch among them.
    options = ChaosOptions(seed=5, dsn=pg_dsn, out=lines.append)
    schedule = schedule_for(options)

    result = await run_gateway_faults(options)

    assert result.acknowledged > 0
    assert (result.lost, result.violations) == (0, 0), result.json_line()
    assert result.faults == [f.describe().strip() for f in schedule]
    ops = result.details["ops"]
    assert ops["payment:pay"]["acknowledged"] > 0 and ops["hold:pay"]["acknowledged"] > 0
    webhooks = result.details["webhooks"]
    storm_gateways = {f.params["gateway"] for f in schedule if f.fault == "webhook_storm"}
    # A storm really sent 50 copies of an event when a payment happened in its window.
    assert any(webhooks[g]["max_copies"] == STORM_COPIES for g in storm_gateways), webhooks
    assert sum(w.get("dropped", 0) for w in webhooks.values()) > 0, webhooks
    assert any("late webhook" in line for line in lines)
