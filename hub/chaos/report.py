"""What a chaos scenario reports: one JSON line per scenario (and one for ``all``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ScenarioResult:
    """The outcome of one scenario run.

    ``attempted`` counts client operations started, ``acknowledged`` those the hub (or the
    gateway, for a customer's payment) answered as done; ``lost`` counts acknowledged operations
    missing from PostgreSQL afterwards (or whose effect is doubled); ``violations`` is
    ``seva verify``'s count (``storage.verify.verify_all``) after the run. ``faults`` lists the
    faults injected, in order, as ``"<at_secs>s <fault>"``.
    """

    scenario: str
    seed: int
    attempted: int
    acknowledged: int
    lost: int
    violations: int
    faults: list[str]
    details: dict[str, Any] = field(default_factory=dict)
    duration_secs: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.lost == 0 and self.violations == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "attempted": self.attempted,
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "violations": self.violations,
            "faults": list(self.faults),
            "duration_secs": round(self.duration_secs, 2),
            "details": self.details,
        }

    def json_line(self) -> str:
        """One JSON object on one line (keys: scenario, seed, attempted, acknowledged, lost,
        violations, faults, duration_secs, details)."""
        return json.dumps(self.as_dict(), default=str, separators=(", ", ": "))


def aggregate(seed: int, results: Sequence[ScenarioResult]) -> ScenarioResult:
    """The ``all`` line: sums over the scenarios run, their names under ``details.scenarios``."""
    return ScenarioResult(
        scenario="all",
        seed=seed,
        attempted=sum(r.attempted for r in results),
        acknowledged=sum(r.acknowledged for r in results),
        lost=sum(r.lost for r in results),
        violations=sum(r.violations for r in results),
        faults=[f"{r.scenario}: {len(r.faults)}" for r in results],
        details={
            "scenarios": {
                r.scenario: {
                    "acknowledged": r.acknowledged,
                    "lost": r.lost,
                    "violations": r.violations,
                }
                for r in results
            }
        },
        duration_secs=sum(r.duration_secs for r in results),
    )
