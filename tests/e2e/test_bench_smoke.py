"""``seva bench contention --smoke`` end to end, as CI runs it: a real process, real servers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {
    "bench",
    "ours_ops_per_s",
    "baseline_ops_per_s",
    "ratio",
    "ours_p99_ms",
    "baseline_p99_ms",
    "oversold",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_smoke_bench_ends_with_a_json_summary_and_oversells_nothing(
    migrated_dsn: str, tmp_path: Path
):
    env = {
        **os.environ,
        "DATABASE_URL": migrated_dsn,
        "RAY_AUTH_MODE": "disabled",
        "SEVA_DATA_DIR": str(tmp_path / "seva"),
    }
    env.pop("RAY_ADDRESS", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "bench",
        "contention",
        "--smoke",
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=280)
    stdout = out.decode()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout}\n{err.decode()[-3000:]}"

    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["bench"] == "contention"
    assert summary["smoke"] is True
    assert summary["oversold"] == 0
    assert summary["counter_mismatches"] == 0
    assert summary["ours_lost_or_doubled"] == 0
    assert summary["baseline_lost_or_doubled"] == 0
    assert summary["ours_ops_per_s"] > 0
    assert summary["baseline_ops_per_s"] > 0
    assert summary["ratio"] > 0
    # 20 clients x 3 holds for 2 slots of 15 places: exactly 30 win on each side.
    assert summary["ours_ok"] == summary["baseline_ok"] == 30
    assert summary["ours_sold_out"] == summary["baseline_sold_out"] == 30
    assert summary["ours_errors"] == summary["baseline_errors"] == 0
    assert "synchronous_commit=on" in stdout

    conn = await asyncpg.connect(migrated_dsn)
    try:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'seva\\_bench\\_%'"
        )
    finally:
        await conn.close()
    assert leftovers == 0, "the bench's scratch database was not dropped"
