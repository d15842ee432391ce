"""How a chaos scenario is asked to run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class ChaosOptions:
    """``seed`` fixes the fault schedule and the workload's choices; ``long`` runs for minutes
    instead of ~10-30 s (``secs`` sets the time under faults exactly); ``dsn`` is a PostgreSQL
    server DSN: each scenario makes a fresh, migrated database on it (dropped afterwards
    unless ``keep_data``). ``out`` receives the human-readable lines (schedule, progress); the
    JSON lines are the caller's."""

    seed: int
    long: bool = False
    dsn: str | None = None
    keep_data: bool = False
    out: Callable[[str], None] = field(default=_print)
    secs: float | None = None

    @property
    def duration_secs(self) -> float:
        """How long the workload runs under faults: ``secs`` if given, else 180 s with
        ``long``, 12 s without."""
        if self.secs is not None:
            return self.secs
        return 180.0 if self.long else 12.0

    def fault_window_secs(self, tail_secs: float) -> float:
        """Until when faults may be scheduled: ``tail_secs`` before the end, so the last one
        has time to heal, but never less than three quarters of the run, so a short ``--secs``
        still gets its faults."""
        return max(self.duration_secs - tail_secs, self.duration_secs * 0.75)

    @property
    def users(self) -> int:
        return 24 if self.long else 8
