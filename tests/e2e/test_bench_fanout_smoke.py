"""``seva bench fanout --smoke`` end to end, as CI runs it: a real process, our hub and the
Node.js socket.io server (npm packages installed by the bench; no network fails it loudly)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.support import run_seva_smoke_bench

SUMMARY_KEYS = {
    "bench",
    "subscribers",
    "ours_p99_ms",
    "node_p99_ms",
    "ours_msgs_per_s",
    "node_msgs_per_s",
    "ratio",
    "ours_kb_per_conn",
    "node_kb_per_conn",
    "lost",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_smoke_fanout_bench_delivers_every_delta_from_both_servers(
    migrated_dsn: str, tmp_path: Path
):
    summary, stdout = await run_seva_smoke_bench("fanout", migrated_dsn, str(tmp_path / "seva"))
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["bench"] == "fanout"
    assert summary["smoke"] is True
    assert summary["subscribers"] == 50
    assert summary["lost"] == 0
    assert summary["ours_lost"] == summary["node_lost"] == 0
    assert summary["ours_connected"] == summary["node_connected"] == 50
    assert summary["ours_out_of_order"] == summary["node_out_of_order"] == 0
    assert summary["ours_duplicates"] == summary["node_duplicates"] == 0
    assert summary["wrong_values"] == 0
    for key in ("ours_msgs_per_s", "node_msgs_per_s", "ratio", "ours_p99_ms", "node_p99_ms"):
        assert summary[key] > 0, key
    assert "socket.io 4.8" in stdout
    assert stdout.strip().splitlines()[-2].startswith("ours/node:")

    conn = await asyncpg.connect(migrated_dsn)
    try:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'seva\\_bench\\_%'"
        )
    finally:
        await conn.close()
    assert leftovers == 0, "the bench's scratch database was not dropped"
