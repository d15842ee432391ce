"""How much of a booking's price comes back when it is cancelled (pure, integer paise)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def refund_percent(
    policy: Iterable[Mapping[str, Any]], *, starts_at: datetime, now: datetime
) -> int:
    """The tenant's rule for how early the booking is cancelled: the rule with the largest
    ``hours_before`` that is still met applies; none met (or no policy) refunds nothing.
    ``[{"hours_before": 48, "refund_percent": 100}, {"hours_before": 6, "refund_percent": 50}]``
    gives 100 two days ahead, 50 between six hours and two days, 0 after that."""
    hours_left = (starts_at - now).total_seconds() / 3600
    best: tuple[float, int] | None = None
    for rule in policy:
        hours = float(rule["hours_before"])
        if hours_left >= hours and (best is None or hours > best[0]):
            best = (hours, int(rule["refund_percent"]))
    return best[1] if best else 0


def refund_paise(paid_paise: int, percent: int) -> int:
    """Rounded down to whole paise: the customer never gets more than the rule promises."""
    return paid_paise * percent // 100
