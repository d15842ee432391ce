"""``seva payments reconcile`` runs one reconciliation round and says how many it settled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import TEST_SECRET_KEY


@pytest.mark.timeout(180)
def test_reconcile_command_runs_once_and_prints_a_json_line(migrated_dsn: str):
    env = {
        **os.environ,
        "DATABASE_URL": migrated_dsn,
        "SEVA_SECRET_KEY": TEST_SECRET_KEY,
        "RAY_AUTH_MODE": "disabled",
        "SEVA_SHARDS": "1",
    }
    env.pop("RAY_ADDRESS", None)
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
