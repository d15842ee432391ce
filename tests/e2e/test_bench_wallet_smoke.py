"""``seva bench wallet --smoke`` end to end, as CI runs it: a real process, real PostgreSQL and
Ray, both sides, both scenarios, the ledger verified afterwards."""

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
    "violations",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_smoke_wallet_bench_ends_with_a_json_summary_and_breaks_no_invariant(
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
        "wallet",
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
    assert summary["bench"] == "wallet"
    assert summary["smoke"] is True
    assert summary["violations"] == 0
    assert summary["ours_ops_per_s"] > 0
    assert summary["baseline_ops_per_s"] > 0
    assert summary["ratio"] > 0
    # 300 debits on one wallet funded for 150; 300 over 20 wallets funded for 7 each.
    assert summary["hot_expected_ok"] == 150
    assert summary["spread_expected_ok"] == 140
    for scenario in ("hot", "spread"):
        expected = summary[f"{scenario}_expected_ok"]
        for side in ("ours", "baseline"):
            prefix = f"{scenario}_{side}_"
            assert summary[prefix + "ops_per_s"] > 0
            assert summary[prefix + "errors"] == 0
            assert summary[prefix + "ok"] == expected
            assert summary[prefix + "insufficient"] == 300 - expected
            assert summary[prefix + "lost_or_doubled"] == 0
    assert "synchronous_commit=on" in stdout
    assert "no Socket.IO" in stdout

    conn = await asyncpg.connect(migrated_dsn)
    try:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'seva\\_bench\\_%'"
        )
    finally:
        await conn.close()
    assert leftovers == 0, "the bench's scratch database was not dropped"
