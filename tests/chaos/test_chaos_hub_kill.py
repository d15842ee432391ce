"""Scenario 2 (``hub-kill``), small: a hub of a two-hub cluster (real ``seva serve``
processes, one Ray head, one redis-server) killed with SIGKILL on a seeded schedule and
started again; the workload's clients fail over to the other hub and subscribers resume by
``since``: nothing acknowledged is lost, no subscriber misses a ``seq``, verify is clean."""

from __future__ import annotations

import pytest

from hub.chaos.hub_kill import run_hub_kill, schedule_for
from hub.chaos.options import ChaosOptions

pytestmark = pytest.mark.timeout(180)


def test_the_same_seed_gives_the_same_kills():
    first = schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert first == schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert first != schedule_for(ChaosOptions(seed=6, secs=10.0))
    assert first and {f.fault for f in first} == {"kill_hub"}
    assert {f.params["hub"] for f in first} <= {"a", "b"}


async def test_killing_a_hub_loses_nothing_and_subscribers_resume_by_since(pg_dsn: str):
    lines: list[str] = []
    options = ChaosOptions(seed=5, dsn=pg_dsn, secs=10.0, out=lines.append)
    schedule = schedule_for(options)

    result = await run_hub_kill(options)

    assert result.acknowledged > 0 and result.attempted >= result.acknowledged
    assert (result.lost, result.violations) == (0, 0), result.json_line()
    assert result.faults == [f.describe().strip() for f in schedule], result.faults
    # Clients of the killed hub moved to the other one and carried on.
    assert result.details["failovers"] > 0, result.details
    assert result.details["ops"]["hold:create"]["acknowledged"] > 0
    subscriptions = result.details["subscriptions"]
    assert subscriptions["caught_up"] is True, subscriptions
    assert subscriptions["seq_gaps"] == 0 and subscriptions["resets"] == 0, subscriptions
    # At least one subscriber lost its hub and resumed on the other by `since`.
    assert subscriptions["resumed_by_since"] >= 1, subscriptions
    assert subscriptions["stream_head"] > 0
