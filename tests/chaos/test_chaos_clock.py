"""Scenario 6 (``clock``), small: holds whose TTL and a reminder whose due time pass while the
hub and its Ray cluster are killed (SIGKILL) are acted on after the restart, exactly once:
each hold expired once (and counted back), the reminder sent once (one notification, one
outbox event); the workload around them loses nothing and verify is clean."""

from __future__ import annotations

import pytest

from hub.chaos.clock import run_clock, schedule_for
from hub.chaos.options import ChaosOptions

pytestmark = pytest.mark.timeout(180)


def test_a_small_run_restarts_once_after_everything_is_due():
    first = schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert first == schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert [f.fault for f in first] == ["restart_after_due"]
    assert 0.5 <= first[0].params["margin_secs"] <= 2.5


async def test_expiries_and_reminders_due_while_down_happen_once_after_the_restart(pg_dsn: str):
    lines: list[str] = []
    options = ChaosOptions(seed=5, dsn=pg_dsn, secs=10.0, out=lines.append)

    result = await run_clock(options)

    assert result.acknowledged > 0 and result.attempted >= result.acknowledged
    assert (result.lost, result.violations) == (0, 0), result.json_line()
    assert result.faults == [f.describe().strip() for f in schedule_for(options)]
    clock = result.details["clock"]
    assert clock["restarts"] == 1, clock
    assert clock["expired_once_after_restart"] == clock["planted_holds"] == 3, clock
    assert clock["sent_once_after_restart"] == clock["planted_reminders"] == 1, clock
    subscriptions = result.details["subscriptions"]
    assert subscriptions["seq_gaps"] == 0 and subscriptions["resets"] == 0, subscriptions
    assert subscriptions["resumed_by_since"] >= 1, subscriptions
