"""``seva bench all`` without running a bench: the sizes it picks per point, its arguments, the
pair ratios and summary it computes, and what it does when Node.js is not there (the fan-out
baseline is skipped with a note, the plot is still drawn)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hub.bench.report import (
    Point,
    _node_or_note,
    add_arguments,
    config_from_args,
    contention_argv,
    pair_lines,
    summary,
    wallet_argv,
)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def _point(benchmark: str, variant: str, x: int, throughput: float, p99: float) -> Point:
    return Point(
        benchmark=benchmark,
        scenario=None,
        variant=variant,  # type: ignore[arg-type]
        x=x,
        throughput=throughput,
        p50_ms=p99 / 2,
        p99_ms=p99,
        healthy=True,
        details={"slots": 10},
    )


def test_sweep_lists_are_sorted_distinct_positive_and_bad_ones_are_refused():
    args = _parse("--concurrency", "32,1,8,8", "--subscribers", "5000,100")
    config = config_from_args(args, ("bench", "all"))
    assert config.concurrency == (1, 8, 32)
    assert config.subscribers == (100, 5000)
    assert config.benchmarks == ("contention", "wallet", "fanout")
    assert config.out == Path("docs/bench")
    for bad in (["--concurrency", "0,8"], ["--concurrency", "a"], ["--benchmarks", "nope"]):
        with pytest.raises(SystemExit):
            _parse(*bad)
    assert config_from_args(_parse("--smoke"), ()).concurrency == (2, 8)


def test_each_level_measures_enough_operations_and_spread_keeps_twenty_debits_per_wallet():
    assert contention_argv(1, smoke=False, shards=None) == ["--clients", "1", "--requests", "600"]
    assert contention_argv(512, smoke=False, shards=2) == [
        "--clients",
        "512",
        "--requests",
        "20",
        "--shards",
        "2",
    ]
    assert wallet_argv(1, smoke=False, shards=None) == [
        "--concurrency",
        "1",
        "--ops",
        "600",
        "--wallets",
        "30",
    ]
    assert wallet_argv(4096, smoke=False, shards=None)[3] == "20000"  # capped
    assert "--smoke" in wallet_argv(8, smoke=True, shards=None)


def test_ratios_are_seva_over_the_other_side_and_the_summary_lists_them_by_level():
    points = [
        _point("contention", "seva", 8, 300.0, 40.0),
        _point("contention", "baseline", 8, 200.0, 80.0),
        _point("contention", "seva", 1, 90.0, 5.0),
        _point("contention", "baseline", 1, 100.0, 4.0),
    ]
    lines = pair_lines(points)
    assert [line["ratios"]["throughput"] for line in lines] == [1.5, 1.5, 0.9, 0.9]
    assert lines[0]["ratios"] == {"vs": "baseline", "throughput": 1.5, "p50": 0.5, "p99": 0.5}
    line = summary(Path("out/results.json"), [], points, notes=[], smoke=False)
    assert line["contention_x"] == [1, 8]
    assert line["contention_ratios"] == [0.9, 1.5]
    assert line["contention_p99_ratios"] == [1.25, 0.5]
    assert line["contention_ratio"] == 1.5
    assert line["node_skipped"] is False
    json.dumps(line)


async def test_without_node_the_fanout_baseline_is_skipped_with_a_note_and_still_plotted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from matplotlib.image import imread

    from hub.bench.plots import draw_fanout

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no node, no npm
    version, note = await _node_or_note()
    assert version is None
    assert note is not None and "Node.js" in note

    points = [
        _point("fanout", "seva", 100, 5000.0, 20.0),
        _point("fanout", "seva", 1000, 9000.0, 60.0),
    ]
    lines = pair_lines(points)
    assert lines[0]["ratios"] == {"vs": None, "throughput": None, "p50": None, "p99": None}
    line = summary(tmp_path / "results.json", [], points, notes=[note], smoke=True)
    assert line["node_skipped"] is True
    assert line["fanout_ratios"] == [None, None]
    assert line["notes"] == [note]

    path = draw_fanout(points, tmp_path / "fanout.png", machine={}, notes=[note], smoke=True)
    assert imread(path).shape[1] >= 1000
