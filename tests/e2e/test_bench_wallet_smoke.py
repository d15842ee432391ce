"""``seva bench wallet --smoke`` end to end, as CI runs it: a real process, real PostgreSQL and
Ray, both sides, both scenarios, the ledger verified afterwards."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.support import run_seva_smoke_bench

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
    summary, stdout = await run_seva_smoke_bench("wallet", migrated_dsn, str(tmp_path / "seva"))
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
