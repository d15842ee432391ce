"""Scenario 3 (``postgres-restart``), small: ``pg_ctl restart -m immediate`` of the run's own
PostgreSQL under two ``seva serve`` hubs and real clients; every acknowledged operation is
there afterwards, the hubs are ready again on their own, no subscriber misses a ``seq``,
verify is clean."""

from __future__ import annotations

import pytest

from hub.chaos.options import ChaosOptions
from hub.chaos.postgres_restart import run_postgres_restart, schedule_for

pytestmark = pytest.mark.timeout(180)


def test_the_same_seed_gives_the_same_restarts():
    first = schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert first == schedule_for(ChaosOptions(seed=5, secs=10.0))
    assert first and {f.fault for f in first} == {"restart_postgres"}


async def test_an_immediate_postgres_restart_loses_nothing_acknowledged():
    lines: list[str] = []
    # No dsn: the scenario crashes a PostgreSQL cluster of its own, never the session's.
    options = ChaosOptions(seed=5, secs=10.0, out=lines.append)
    schedule = schedule_for(options)

    result = await run_postgres_restart(options)

    assert result.acknowledged > 0 and result.attempted >= result.acknowledged
    assert (result.lost, result.violations) == (0, 0), result.json_line()
    assert result.faults == [f.describe().strip() for f in schedule], result.faults
    # Each restart was followed by every hub answering /readyz 200 again.
    assert len(result.details["ready_after_restart_secs"]) == len(schedule), result.details
    ops = result.details["ops"]
    assert ops["hold:create"]["acknowledged"] > 0 and ops["payment:pay"]["acknowledged"] > 0
    subscriptions = result.details["subscriptions"]
    assert subscriptions["caught_up"] is True, subscriptions
    assert subscriptions["seq_gaps"] == 0 and subscriptions["resets"] == 0, subscriptions
