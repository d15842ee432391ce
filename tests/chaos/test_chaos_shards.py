"""Scenario 1 (``shards``), small: tenant and wallet shard actors killed on a seeded schedule
while real clients hold, release and pay; nothing acknowledged is lost, verify is clean."""

from __future__ import annotations

import pytest

from hub.chaos.options import ChaosOptions
from hub.chaos.shards import run_shards, schedule_for

pytestmark = pytest.mark.timeout(150)


def test_the_same_seed_gives_the_same_kill_schedule():
    first = schedule_for(ChaosOptions(seed=11))
    assert first == schedule_for(ChaosOptions(seed=11))
    assert first != schedule_for(ChaosOptions(seed=12))
    assert {f.fault for f in first} == {"kill_tenant_shard", "kill_wallet_shard"}
    assert all(0 < f.at_secs < 12 for f in first)


async def test_killing_shards_under_load_loses_nothing_acknowledged(pg_dsn: str, ray_session):
    lines: list[str] = []
    options = ChaosOptions(seed=7, dsn=pg_dsn, secs=6.0, out=lines.append)
    schedule = schedule_for(options)

    result = await run_shards(options)

    assert result.acknowledged > 0 and result.attempted >= result.acknowledged
    assert (result.lost, result.violations) == (0, 0), result.json_line()
    # Every scheduled kill happened, in order (none failed to inject).
    assert result.faults == [f.describe().strip() for f in schedule]
    assert len(result.faults) >= 2
    ops = result.details["ops"]
    for op in ("hold:create", "hold:pay", "payment:pay", "transfer:post", "notifications:list"):
        assert ops[op]["acknowledged"] > 0, ops
    assert result.details["settled"] is True
    # The schedule was printed before the run.
    printed = "\n".join(lines)
    assert all(f.describe() in printed for f in schedule)
