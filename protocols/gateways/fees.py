"""Gateway fees and cheapest-gateway routing, in integer paise.

A fee schedule is a percentage in basis points (1 bp = 0.01 %, so 2 % = 200 bp) plus a fixed
amount in paise. The defaults are Razorpay's 2 % + ₹0 and Cashfree's 1.5 % + ₹3; they cost the
same at ₹600 (1,200 paise each), Razorpay is cheaper below and Cashfree above. GST on the fee
multiplies both sides alike, so it does not move the breakeven and is left out.

Two numbers, two purposes:

- :func:`exact_fee` is the fee in 1/10,000 paise, with no rounding at all. Routing compares
  these, so rounding cannot invent a tie (at ₹601 Cashfree's exact fee is 1,201.5 paise against
  Razorpay's 1,202: Cashfree, although both *round* to 1,202).
- :meth:`FeeSchedule.fee_paise` is what we book: the exact fee rounded half up to whole paise.

Ties (equal exact fees, e.g. ₹600 with the defaults) go to the schedule that comes first in the
mapping given to :func:`cheapest`: a tenant's routing policy lists its preferred gateway first.
With :data:`DEFAULT_SCHEDULES` that is Razorpay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

BASIS_POINTS_PER_UNIT = 10_000


@dataclass(frozen=True)
class FeeSchedule:
    percent_bp: int
    fixed_paise: int

    def __post_init__(self) -> None:
        if self.percent_bp < 0 or self.fixed_paise < 0:
            raise ValueError("fees cannot be negative")

    def exact_fee(self, amount_paise: int) -> int:
        """The fee in 1/10,000 paise: ``amount * bp + fixed * 10,000``, no rounding."""
        _check_amount(amount_paise)
        return amount_paise * self.percent_bp + self.fixed_paise * BASIS_POINTS_PER_UNIT

    def fee_paise(self, amount_paise: int) -> int:
        """The fee in whole paise, rounded half up (a fee of 898.5 paise is 899)."""
        return (self.exact_fee(amount_paise) + BASIS_POINTS_PER_UNIT // 2) // BASIS_POINTS_PER_UNIT


RAZORPAY = FeeSchedule(percent_bp=200, fixed_paise=0)
CASHFREE = FeeSchedule(percent_bp=150, fixed_paise=300)
DEFAULT_SCHEDULES: Mapping[str, FeeSchedule] = {"razorpay": RAZORPAY, "cashfree": CASHFREE}


def cheapest(amount_paise: int, schedules: Mapping[str, FeeSchedule]) -> str:
    """The name of the schedule with the lowest exact fee for ``amount_paise``; on a tie, the
    one listed first. Raises ``ValueError`` for no schedules or a negative amount."""
    _check_amount(amount_paise)
    if not schedules:
        raise ValueError("no fee schedules to choose from")
    # min() returns the first of equal minima, which is the documented tie rule.
    name, _ = min(schedules.items(), key=lambda item: item[1].exact_fee(amount_paise))
    return name


def _check_amount(amount_paise: int) -> None:
    if amount_paise < 0:
        raise ValueError("amount_paise cannot be negative")
