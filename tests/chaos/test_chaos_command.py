"""``seva chaos`` as a real process: seed first, the schedule, one JSON line per scenario, the
last line one JSON object with the contract's keys, exit status 0 when nothing was lost."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from hub.chaos.options import ChaosOptions
from hub.chaos.shards import schedule_for
from tests.support import REPO_ROOT, seva_command_env

pytestmark = pytest.mark.timeout(300)


async def _seva_chaos(dsn: str, data_dir: str, *args: str) -> tuple[int, list[str]]:
    env = seva_command_env(dsn, SEVA_DATA_DIR=data_dir)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "chaos",
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=280)
    lines = out.decode().strip().splitlines()
    assert proc.returncode is not None
    if proc.returncode not in (0, 1):
        raise AssertionError(f"exit {proc.returncode}\n{out.decode()}\n{err.decode()[-3000:]}")
    return proc.returncode, lines


async def test_seva_chaos_shards_prints_the_seed_schedule_and_a_json_last_line(pg_dsn, tmp_path):
    code, lines = await _seva_chaos(pg_dsn, str(tmp_path), "shards", "--seed", "7", "--secs", "5")

    assert lines[0] == "seed: 7"
    schedule = schedule_for(ChaosOptions(seed=7, secs=5))
    for fault in schedule:  # the schedule a second computation gives was printed
        assert f"  {fault.describe()}" in lines
    last = json.loads(lines[-1])
    assert {"scenario", "seed", "acknowledged", "lost", "violations", "attempted", "faults"} <= (
        set(last)
    )
    assert (last["scenario"], last["seed"]) == ("shards", 7)
    assert last["acknowledged"] > 0
    assert (last["lost"], last["violations"], code) == (0, 0, 0), lines[-1]


async def test_an_unknown_scenario_is_refused_with_a_json_line(pg_dsn, tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "chaos",
        "no-such-scenario",
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": pg_dsn, "SEVA_DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    last = json.loads(out.decode().strip().splitlines()[-1])
    assert last["scenario"] == "no-such-scenario" and "shards" in last["error"]
    assert "unknown scenario" in err.decode()
