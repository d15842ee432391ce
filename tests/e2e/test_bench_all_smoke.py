"""``seva bench all --smoke --out DIR`` end to end, as CI runs it: a real process sweeps the
contention, wallet and fan-out benches (real PostgreSQL, Ray, Socket.IO, the Node.js server)
and writes results.json and three PNG plots that matplotlib can read back."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support import run_seva_smoke_bench

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMOKE_CONCURRENCY = [2, 8]
SMOKE_SUBSCRIBERS = [10, 30]


def _pairs(points: list[dict[str, Any]]) -> dict[tuple[str, str | None, int], dict[str, Any]]:
    """(benchmark, scenario, x) -> {variant: point}."""
    pairs: dict[tuple[str, str | None, int], dict[str, Any]] = {}
    for point in points:
        key = (point["benchmark"], point["scenario"], point["x"])
        assert point["variant"] not in pairs.setdefault(key, {}), f"duplicate point {key}"
        pairs[key][point["variant"]] = point
    return pairs


def _check_png(path: Path) -> None:
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), path
    assert len(data) > 20_000, f"{path} is only {len(data)} bytes"
    image = imread(path)
    height, width = image.shape[:2]
    assert width >= 1000 and height >= 400, (path, image.shape)
    assert image.std() > 0.05, f"{path} is (nearly) one colour"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_bench_all_smoke_writes_paired_results_and_readable_plots(
    migrated_dsn: str, tmp_path: Path
):
    out = tmp_path / "report"
    last, stdout = await run_seva_smoke_bench(
        "all", migrated_dsn, str(tmp_path / "seva"), "--out", str(out)
    )
    lines = [json.loads(line) for line in stdout.strip().splitlines()]  # stdout is JSON only
    point_lines, summary = lines[:-1], lines[-1]
    assert summary == last

    # The last line's contract.
    assert summary["benchmark"] == "all"
    assert summary["results"] == str(out / "results.json")
    assert summary["plots"] == [str(out / f"{n}.png") for n in ("contention", "wallet", "fanout")]
    assert summary["healthy"] is True and summary["smoke"] is True
    assert summary["node_skipped"] is False and summary["notes"] == []

    results = json.loads((out / "results.json").read_text())
    assert results["format"] == 1
    assert results["smoke"] is True
    assert results["command"].startswith("seva bench all --smoke")
    datetime.fromisoformat(results["date"])
    assert len(results["git"]["commit"]) == 40
    machine = results["machine"]
    assert machine["cpus"] >= 1 and machine["memory_gib"] > 0
    assert machine["postgres"]["synchronous_commit"] == "on"
    assert machine["node_socket_io"].startswith("4.")
    assert results["sweeps"] == {
        "contention": {"x_axis": "concurrency", "x": SMOKE_CONCURRENCY},
        "wallet": {"x_axis": "concurrency", "x": SMOKE_CONCURRENCY},
        "fanout": {"x_axis": "subscribers", "x": SMOKE_SUBSCRIBERS},
    }
    assert results["plots"] == ["contention.png", "wallet.png", "fanout.png"]
    points = results["points"]
    assert points == point_lines, "the JSON lines printed are the points written"
    # One bench summary per contention and wallet level and per fan-out count, each its own
    # bench's last-line contract.
    assert [s["bench"] for s in results["bench_summaries"]] == ["contention"] * 2 + [
        "wallet"
    ] * 2 + ["fanout"] * 2

    # Every point has both sides, and the ratios are the ones its numbers give.
    pairs = _pairs(points)
    expected_keys = (
        {("contention", None, x) for x in SMOKE_CONCURRENCY}
        | {("wallet", s, x) for s in ("hot", "spread") for x in SMOKE_CONCURRENCY}
        | {("fanout", None, x) for x in SMOKE_SUBSCRIBERS}
    )
    assert set(pairs) == expected_keys
    for key, sides in pairs.items():
        other_variant = "node" if key[0] == "fanout" else "baseline"
        assert set(sides) == {"seva", other_variant}, key
        seva, other = sides["seva"], sides[other_variant]
        for point in (seva, other):
            assert point["throughput"] > 0, (key, point)
            assert 0 < point["p50_ms"] <= point["p99_ms"], (key, point)
            assert point["healthy"] is True, (key, point)
            assert point["x_axis"] == ("subscribers" if key[0] == "fanout" else "concurrency")
            assert point["ratios"] == seva["ratios"], "both sides carry their pair's ratios"
        ratios = seva["ratios"]
        assert ratios["vs"] == other_variant
        assert ratios["throughput"] == round(seva["throughput"] / other["throughput"], 2)
        assert ratios["p50"] == round(seva["p50_ms"] / other["p50_ms"], 2)
        assert ratios["p99"] == round(seva["p99_ms"] / other["p99_ms"], 2)
        if key[0] == "fanout":
            assert seva["details"]["lost"] == other["details"]["lost"] == 0
            assert seva["details"]["connected"] == key[2]
        else:
            assert seva["details"]["lost_or_doubled"] == other["details"]["lost_or_doubled"] == 0
            assert seva["details"]["errors"] == other["details"]["errors"] == 0

    # The summary's ratios are the points', per series in ascending x.
    for series, (benchmark, scenario) in {
        "contention": ("contention", None),
        "wallet_hot": ("wallet", "hot"),
        "wallet_spread": ("wallet", "spread"),
        "fanout": ("fanout", None),
    }.items():
        xs = SMOKE_SUBSCRIBERS if benchmark == "fanout" else SMOKE_CONCURRENCY
        ratios = [pairs[(benchmark, scenario, x)]["seva"]["ratios"] for x in xs]
        assert summary[f"{series}_x"] == xs
        assert summary[f"{series}_ratios"] == [r["throughput"] for r in ratios]
        assert summary[f"{series}_p99_ratios"] == [r["p99"] for r in ratios]
        assert summary[f"{series}_ratio"] == ratios[-1]["throughput"]
    assert summary["points"] == len(points) == 2 * len(expected_keys)

    for name in ("contention", "wallet", "fanout"):
        _check_png(out / f"{name}.png")

    conn = await asyncpg.connect(migrated_dsn)
    try:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'seva\\_bench\\_%'"
        )
    finally:
        await conn.close()
    assert leftovers == 0, "a bench's scratch database was not dropped"
