"""Gateway fees and cheapest-gateway routing: integer paise, breakeven at ₹600."""

from __future__ import annotations

import pytest

from protocols.gateways.fees import (
    CASHFREE,
    DEFAULT_SCHEDULES,
    RAZORPAY,
    FeeSchedule,
    cheapest,
)

RUPEE = 100


def test_default_schedules_are_razorpay_two_percent_and_cashfree_one_and_a_half_plus_three():
    assert (RAZORPAY.percent_bp, RAZORPAY.fixed_paise) == (200, 0)
    assert (CASHFREE.percent_bp, CASHFREE.fixed_paise) == (150, 300)
    assert list(DEFAULT_SCHEDULES) == ["razorpay", "cashfree"]


def test_fees_in_whole_paise():
    assert RAZORPAY.fee_paise(600 * RUPEE) == 1200
    assert CASHFREE.fee_paise(600 * RUPEE) == 1200
    assert RAZORPAY.fee_paise(1000 * RUPEE) == 2000
    assert CASHFREE.fee_paise(1000 * RUPEE) == 1800
    assert CASHFREE.fee_paise(0) == 300


def test_fee_rounds_half_up_to_whole_paise():
    # ₹599 at 1.5 % is 898.5 paise: half rounds up.
    assert CASHFREE.fee_paise(599 * RUPEE) == 899 + 300
    # 2 % of 1 paisa is 0.02 paise: rounds down to 0; 2 % of 25 paise is exactly 0.5: up to 1.
    assert RAZORPAY.fee_paise(1) == 0
    assert RAZORPAY.fee_paise(25) == 1
    assert RAZORPAY.fee_paise(24) == 0


def test_exact_fee_is_in_ten_thousandths_of_a_paisa():
    assert CASHFREE.exact_fee(599 * RUPEE) == 11_985_000  # 1,198.5 paise
    assert RAZORPAY.exact_fee(599 * RUPEE) == 11_980_000


def test_rupees_599_routes_to_razorpay():
    assert cheapest(599 * RUPEE, DEFAULT_SCHEDULES) == "razorpay"


def test_rupees_601_routes_to_cashfree_although_both_fees_round_to_1202_paise():
    assert RAZORPAY.fee_paise(601 * RUPEE) == CASHFREE.fee_paise(601 * RUPEE) == 1202
    assert cheapest(601 * RUPEE, DEFAULT_SCHEDULES) == "cashfree"


def test_rupees_600_is_a_tie_won_by_the_schedule_listed_first():
    assert RAZORPAY.exact_fee(600 * RUPEE) == CASHFREE.exact_fee(600 * RUPEE)
    assert cheapest(600 * RUPEE, {"razorpay": RAZORPAY, "cashfree": CASHFREE}) == "razorpay"
    assert cheapest(600 * RUPEE, {"cashfree": CASHFREE, "razorpay": RAZORPAY}) == "cashfree"


def test_breakeven_is_exactly_60000_paise():
    assert cheapest(59_999, DEFAULT_SCHEDULES) == "razorpay"
    assert cheapest(60_001, DEFAULT_SCHEDULES) == "cashfree"
    for amount in range(0, 200_000, 137):
        expected = "razorpay" if amount <= 60_000 else "cashfree"
        assert cheapest(amount, DEFAULT_SCHEDULES) == expected, amount


def test_large_amounts_stay_exact_in_integers():
    crore_paise = 10**7 * RUPEE
    assert RAZORPAY.fee_paise(crore_paise) == 2 * 10**7
    assert CASHFREE.fee_paise(crore_paise) == 15 * 10**6 + 300
    assert cheapest(crore_paise, DEFAULT_SCHEDULES) == "cashfree"


def test_a_single_schedule_is_always_chosen():
    assert cheapest(1, {"cashfree": CASHFREE}) == "cashfree"


def test_refuses_negative_amounts_negative_fees_and_no_schedules():
    with pytest.raises(ValueError):
        RAZORPAY.fee_paise(-1)
    with pytest.raises(ValueError):
        cheapest(-1, DEFAULT_SCHEDULES)
    with pytest.raises(ValueError):
        cheapest(100, {})
    with pytest.raises(ValueError):
        FeeSchedule(percent_bp=-1, fixed_paise=0)
    with pytest.raises(ValueError):
        FeeSchedule(percent_bp=0, fixed_paise=-1)
