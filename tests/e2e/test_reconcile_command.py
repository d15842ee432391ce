"""``seva payments reconcile`` runs one reconciliation round and says how many it settled."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.support import seva_command_env


@pytest.mark.timeout(180)
def test_reconcile_command_runs_once_and_prints_a_json_line(migrated_dsn: str):
    env = seva_command_env(migrated_dsn, SEVA_SECRET_KEY=TEST_SECRET_KEY, SEVA_SHARDS="1")
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "payments", "reconcile", "--older-than-secs", "3600"],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(last["reconciled"], int) and last["reconciled"] >= 0
