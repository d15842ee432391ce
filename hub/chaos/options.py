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

    @property
    def users(self) -> int:
        return 24 if self.long else 8
