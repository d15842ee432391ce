"""``seva bench contention --smoke`` end to end, as CI runs it: a real process, real servers."""

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
    "oversold",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_smoke_bench_ends_with_a_json_summary_and_oversells_nothing(
    migrated_dsn: str, tmp_path: Path
):
    summary, stdout = await run_seva_smoke_bench("contention", migrated_dsn, str(tmp_path / "seva"))
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
