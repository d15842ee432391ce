"""The PNG plots of ``seva bench all`` (:mod:`hub.bench.report`), drawn with matplotlib's Agg
canvas directly (no pyplot, no display, no global figure state).

- :func:`draw_sweep`: contention or wallet: throughput and p99 against concurrency, Seva's
  actor path against its baseline (the wallet's ``hot`` and ``spread`` scenarios as solid and
  dashed lines); Seva's throughput ratio is written above each of its points.
- :func:`draw_fanout`: delivery latency p50 and p99 against subscribers, and messages per
  second, Seva against the Node.js socket.io server.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from hub.bench.report import Point

COLORS = {"seva": "#e07b00", "baseline": "#5a6270", "node": "#2e8b3a"}
LABELS = {
    "seva": "Seva",
    "baseline": "baseline",
    "node": "Node.js socket.io 4.8",
}
SWEEP_TITLES = {
    "contention": (
        "Contention: holds racing for {slots} slots",
        "Seva: Socket.IO → tenant actor on Ray, group commit   |   "
        "baseline: REST, 1 transaction per request, SELECT … FOR UPDATE",
        "concurrent clients",
    ),
    "wallet": (
        "Wallet: concurrent debits of 100 paise",
        "Seva: wallet actors on Ray, group commit   |   "
        "baseline: 1 transaction per debit, conditional UPDATE + ledger INSERT",
        "debits in flight",
    ),
}
SCENARIO_STYLES = {None: "-", "hot": "-", "spread": "--"}
SCENARIO_LABELS = {None: "", "hot": " — hot (1 wallet)", "spread": " — spread (many wallets)"}
DPI = 110


def draw_sweep(
    points: list[Point], benchmark: str, path: Path, *, machine: dict[str, Any], smoke: bool
) -> Path:
    """Two panels, throughput and p99 against concurrency (log₂ axis); returns ``path``."""
    title, sides, x_label = SWEEP_TITLES[benchmark]
    mine = [p for p in points if p.benchmark == benchmark]
    title = title.format(slots=mine[0].details.get("slots", "?") if mine else "?")
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    throughput_ax, p99_ax = fig.subplots(1, 2)
    scenarios = list(dict.fromkeys(p.scenario for p in mine))
    for scenario in scenarios:
        for variant in ("baseline", "seva"):
            series = sorted(
                (p for p in mine if p.scenario == scenario and p.variant == variant),
                key=lambda p: p.x,
            )
            if not series:
                continue
            style = dict(
                color=COLORS[variant],
                linestyle=SCENARIO_STYLES[scenario],
                marker="o",
                label=LABELS[variant] + SCENARIO_LABELS[scenario],
            )
            xs = [p.x for p in series]
            throughput_ax.plot(xs, [p.throughput for p in series], **style)  # type: ignore[arg-type]
            p99_ax.plot(xs, [p.p99_ms for p in series], **style)  # type: ignore[arg-type]
            if variant == "seva":
                _annotate_ratios(throughput_ax, series, mine)
    xs = sorted({p.x for p in mine})
    throughput_ax.set_title("Throughput (higher is better)")
    throughput_ax.set_ylabel("answered requests per second (ops/s)")
    top = _headroom(p.throughput for p in mine)
    # Room under zero for the ratio labels placed below the lower of two scenarios.
    throughput_ax.set_ylim(bottom=-0.06 * top if len(scenarios) > 1 else 0, top=top)
    p99_ax.set_title("p99 latency (lower is better)")
    p99_ax.set_ylabel("p99 latency (ms, log scale)")
    _log_y(p99_ax)
    for ax in (throughput_ax, p99_ax):
        _log_x(ax, xs, base=2)
        ax.set_xlabel(f"{x_label} (log scale)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"{title}\n{sides}", fontsize=11)
    _footer(fig, machine, smoke=smoke, extra="xN above Seva's points: Seva ops/s ÷ baseline ops/s")
    fig.savefig(path, dpi=DPI)
    return path


def draw_fanout(
    points: list[Point],
    path: Path,
    *,
    machine: dict[str, Any],
    notes: list[str],
    smoke: bool,
) -> Path:
    """Delivery latency (p50 dashed, p99 solid) and msgs/s against subscribers (log axis)."""
    mine = [p for p in points if p.benchmark == "fanout"]
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    latency_ax, rate_ax = fig.subplots(1, 2)
    for variant in ("node", "seva"):
        series = sorted((p for p in mine if p.variant == variant), key=lambda p: p.x)
        if not series:
            continue
        xs = [p.x for p in series]
        color = COLORS[variant]
        latency_ax.plot(
            xs, [p.p99_ms for p in series], color=color, marker="o", label=f"{LABELS[variant]} p99"
        )
        latency_ax.plot(
            xs,
            [p.p50_ms for p in series],
            color=color,
            marker="s",
            linestyle="--",
            label=f"{LABELS[variant]} p50",
        )
        rate_ax.plot(
            xs, [p.throughput for p in series], color=color, marker="o", label=LABELS[variant]
        )
        if variant == "seva":
            _annotate_ratios(rate_ax, series, mine)
    xs = sorted({p.x for p in mine})
    latency_ax.set_title("Delivery latency per subscriber and delta (lower is better)")
    latency_ax.set_ylabel("send → receive latency (ms, log scale)")
    _log_y(latency_ax)
    rate_ax.set_title("Deliveries per second (higher is better)")
    rate_ax.set_ylabel("messages delivered per second (msgs/s)")
    rate_ax.set_ylim(bottom=0, top=_headroom(p.throughput for p in mine))
    for ax in (latency_ax, rate_ax):
        _log_x(ax, xs, base=10)
        ax.set_xlabel("subscribers of one availability stream (log scale)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        "Fan-out: one availability delta to every subscriber, deltas one at a time\n"
        "Seva: seva serve, PostgreSQL NOTIFY → hub → pre-encoded frame per subscriber   |   "
        "Node.js: io.to(room).emit",
        fontsize=11,
    )
    extra = "xN above Seva's points: Seva msgs/s ÷ Node msgs/s"
    if notes:
        extra = " ".join(notes)
    _footer(fig, machine, smoke=smoke, extra=extra)
    fig.savefig(path, dpi=DPI)
    return path


def _annotate_ratios(ax: Axes, series: list[Point], everything: list[Point]) -> None:
    for point in series:
        other = next(
            (
                p
                for p in everything
                if p.variant != "seva" and (p.scenario, p.x) == (point.scenario, point.x)
            ),
            None,
        )
        if other is None or other.throughput <= 0:
            continue
        # Scenarios share the x positions: the higher of two points is labelled above, the
        # lower below, so that the labels do not collide.
        below = any(
            p.variant == "seva" and p.x == point.x and p.throughput > point.throughput
            for p in everything
        )
        ax.annotate(
            f"{point.scenario + ' ' if point.scenario else ''}"
            f"x{point.throughput / other.throughput:.2f}",
            (point.x, point.throughput),
            textcoords="offset points",
            xytext=(0, -14 if below else 7),
            ha="center",
            fontsize=8,
            color=COLORS["seva"],
        )


def _log_x(ax: Axes, xs: list[int], *, base: int) -> None:
    """A log x axis ticked at exactly the measured levels."""
    ax.set_xscale("log", base=base)
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(xs, [f"{x:,}" for x in xs])
    if len(xs) == 1:
        ax.set_xlim(xs[0] / 2, xs[0] * 2)


def _log_y(ax: Axes) -> None:
    """A log y axis labelled in plain numbers at 1, 2 and 5 of each decade."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,g}"))
    ax.yaxis.set_minor_locator(NullLocator())


def _headroom(values: Iterable[float]) -> float:
    return max([*values, 1.0]) * 1.15


def _footer(fig: Figure, machine: dict[str, Any], *, smoke: bool, extra: str) -> None:
    pg = machine.get("postgres") or {}
    load = machine.get("load_avg_start") or []
    text = (
        f"{machine.get('cpus')} CPUs, {machine.get('memory_gib')} GiB, "
        f"PostgreSQL {pg.get('server_version', '?')} (synchronous_commit="
        f"{pg.get('synchronous_commit', '?')}, fsync={pg.get('fsync', '?')}), "
        f"load average at start {load[0] if load else '?'}"
        f"{'; smoke run (tiny sizes)' if smoke else ''}.  {extra}"
    )
    # supxlabel, not fig.text: the constrained layout makes room for it below the axes.
    fig.supxlabel(text, fontsize=7.5, color="#444444", x=0.01, ha="left")
