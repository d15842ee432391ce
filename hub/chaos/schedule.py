"""The seeded fault schedule: which fault is injected when, fixed by the seed before the run.

The same ``(scenario, seed, duration, kinds)`` always gives the same schedule, so a failing run is
reproduced with ``seva chaos <scenario> --seed N``; it is printed before the run starts. What
happens *between* faults (the workload's timing against real processes) is not reproducible
to the millisecond, only the faults and the workload's choices are.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScheduledFault:
    """Inject ``fault`` (a scenario-defined name) ``at_secs`` after the workload started;
    ``params`` are its seeded choices (which actor, how long, ...)."""

    at_secs: float
    fault: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.at_secs:7.2f}s {self.fault}" + (f" {extra}" if extra else "")


ParamChooser = Callable[[random.Random, str], dict[str, Any]]


def build_schedule(
    scenario: str,
    seed: int,
    *,
    duration_secs: float,
    kinds: Sequence[str],
    mean_gap_secs: float,
    start_secs: float = 1.0,
    params: ParamChooser | None = None,
) -> list[ScheduledFault]:
    """Faults drawn from ``kinds`` at exponentially distributed gaps (mean ``mean_gap_secs``)
    from ``start_secs`` until ``duration_secs``; at least one of each kind when they fit.

    Seeded with ``random.Random(f"{scenario}:{seed}")``: deterministic across processes and
    Python versions (string seeds hash with SHA-512)."""
    if not kinds:
        return []
    rng = random.Random(f"{scenario}:{seed}")
    faults: list[ScheduledFault] = []
    at = start_secs
    order = list(kinds)
    rng.shuffle(order)  # every kind first once (in a seeded order), then at random
    while at < duration_secs:
        kind = order[len(faults)] if len(faults) < len(order) else rng.choice(list(kinds))
        chosen = params(rng, kind) if params is not None else {}
        faults.append(ScheduledFault(round(at, 2), kind, chosen))
        at += max(0.2, rng.expovariate(1.0 / mean_gap_secs))
    return faults


def format_schedule(scenario: str, seed: int, schedule: Sequence[ScheduledFault]) -> str:
    lines = [f"schedule {scenario} (seed {seed}): {len(schedule)} fault(s)"]
    lines.extend(f"  {fault.describe()}" for fault in schedule)
    return "\n".join(lines)


Injector = Callable[[ScheduledFault], Awaitable[None]]


async def run_schedule(
    schedule: Sequence[ScheduledFault], inject: Injector, *, stop: asyncio.Event
) -> list[str]:
    """Inject each fault at its time (relative to now) until ``stop`` is set; returns what was
    injected, as ``describe()`` strings. An injector that raises is recorded (``failed: ...``),
    not propagated: a fault that could not be injected must not end the run."""
    started = time.monotonic()
    done: list[str] = []
    for fault in schedule:
        delay = fault.at_secs - (time.monotonic() - started)
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        if stop.is_set():
            break
        try:
            await inject(fault)
        except Exception as exc:  # recorded in the report, the run goes on
            done.append(f"{fault.describe().strip()} (failed: {exc!r})")
            continue
        done.append(fault.describe().strip())
    return done
