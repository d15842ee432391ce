"""Scenario 4 (``redis-restart``), small: redis-server stopped under two ``seva serve`` hubs
and started again on its port; bookings and payments carry on, subscribers are told
``feed:resync`` and resume by ``since`` without a gap, a notice sent through one hub reaches
the subscribers on both afterwards, nothing acknowledged is lost, verify is clean."""

from __future__ import annotations

import pytest

from hub.chaos.options import ChaosOptions
from hub.chaos.redis_restart import run_redis_restart, schedule_for

pytestmark = pytest.mark.timeout(180)


def test_the_same_seed_gives_the_same_outages():
    first = schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert first == schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert first and {f.fault for f in first} == {"restart_redis"}
    assert all(1.0 <= f.params["down_secs"] <= 3.0 for f in first)


async def test_a_redis_restart_loses_nothing_and_cross_hub_events_resume(pg_dsn: str):
    lines: list[str] = []
    options = ChaosOptions(seed=5, dsn=pg_dsn, secs=10.0, out=lines.append)
    schedule = schedule_for(options)

    result = await run_redis_restart(options)

    assert result.acknowledged > 0 and result.attempted >= result.acknowledged
    assert (result.lost, result.violations) == (0, 0), result.json_line()
    assert result.faults == [f.describe().strip() for f in schedule], result.faults
    subscriptions = result.details["subscriptions"]
    assert subscriptions["caught_up"] is True, subscriptions
    assert subscriptions["seq_gaps"] == 0 and subscriptions["resets"] == 0, subscriptions
    # Every subscriber heard feed:resync once Redis was back, and resumed by `since`.
    assert all(d["resyncs"] >= 1 for d in subscriptions["devices"]), subscriptions
    assert subscriptions["resumed_by_since"] >= subscriptions["subscribers"], subscriptions
    notice = subscriptions["cross_hub_notice"]
    assert len(notice["hubs_of_devices"]) == 2, notice  # subscribers on both hubs
    assert notice["devices_reached"] == notice["devices"], notice
