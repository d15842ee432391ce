"""Cheapest healthy gateway first; breakers open on failures and half-open after a cool-down."""

from __future__ import annotations

from protocols.gateways.fees import DEFAULT_SCHEDULES
from protocols.gateways.routing import BreakerPolicy, BreakerState, GatewayRouter

RS_599, RS_600, RS_601 = 59_900, 60_000, 60_100


def _router(**policy: float) -> GatewayRouter:
    return GatewayRouter(DEFAULT_SCHEDULES, BreakerPolicy(**policy))  # type: ignore[arg-type]


def test_the_cheaper_gateway_is_chosen_either_side_of_600_rupees():
    router = _router()
    assert router.preference(RS_599, now=0)[0] == "razorpay"
    assert router.preference(RS_600, now=0)[0] == "razorpay"  # tie: listed first
    assert router.preference(RS_601, now=0) == ["cashfree", "razorpay"]


def test_repeated_failures_open_the_breaker_and_route_to_the_other_gateway():
    router = _router(open_after_failures=3, cooldown_secs=30)
    for t in range(3):
        router.started("cashfree", now=t)
        router.record("cashfree", ok=False, now=t)
    assert router.state("cashfree", now=3) is BreakerState.OPEN
    assert router.preference(RS_601, now=3) == ["razorpay", "cashfree"]


def test_after_the_cool_down_one_trial_goes_through_and_success_closes_it():
    router = _router(open_after_failures=1, cooldown_secs=30)
    router.record("cashfree", ok=False, now=0)
    assert router.preference(RS_601, now=29)[0] == "razorpay"
    assert router.state("cashfree", now=30) is BreakerState.HALF_OPEN
    assert router.preference(RS_601, now=30)[0] == "cashfree"
    router.started("cashfree", now=30)
    # While the trial is out, nobody else is sent there.
    assert router.preference(RS_601, now=31)[0] == "razorpay"
    router.record("cashfree", ok=True, now=32)
    assert router.state("cashfree", now=32) is BreakerState.CLOSED
    assert router.preference(RS_601, now=32)[0] == "cashfree"


def test_a_failed_trial_opens_it_again_for_longer():
    router = _router(open_after_failures=1, cooldown_secs=30, max_cooldown_secs=100)
    router.record("cashfree", ok=False, now=0)
    router.started("cashfree", now=30)
    router.record("cashfree", ok=False, now=30)
    assert router.state("cashfree", now=89) is BreakerState.OPEN  # 60 s this time
    assert router.state("cashfree", now=90) is BreakerState.HALF_OPEN


def test_a_high_error_rate_opens_it_even_without_a_failure_streak():
    router = _router(open_after_failures=100, min_calls=10, open_at_error_rate=0.5)
    for t in range(10):
        router.record("razorpay", ok=t % 2 == 0, now=t)
    assert router.state("razorpay", now=10) is BreakerState.OPEN


def test_when_every_breaker_is_open_the_cheapest_is_still_tried():
    router = _router(open_after_failures=1)
    router.record("razorpay", ok=False, now=0)
    router.record("cashfree", ok=False, now=0)
    assert router.preference(RS_599, now=1) == ["razorpay", "cashfree"]


def test_a_pinned_gateway_goes_first_with_the_other_as_failover():
    from protocols.gateways.routing import RoutingPolicy, plan

    router = _router()
    pinned = RoutingPolicy(mode="pin", gateway="razorpay")
    steps = plan(
        router, pinned, amount_paise=RS_601 * 10, gateways=["razorpay", "cashfree"], bucket=0, now=0
    )
    assert steps == [("razorpay", "pin"), ("cashfree", "failover")]


def test_a_split_sends_each_bucket_to_its_share():
    from protocols.gateways.routing import RoutingPolicy, plan

    router = _router()
    split = RoutingPolicy(mode="split", weights=(("razorpay", 70), ("cashfree", 30)))
    firsts = [
        plan(
            router, split, amount_paise=RS_601, gateways=["razorpay", "cashfree"], bucket=b, now=0
        )[0]
        for b in range(100)
    ]
    assert sum(1 for g, _ in firsts if g == "razorpay") == 70
    assert {why for _, why in firsts} == {"split"}


def test_an_unhealthy_preferred_gateway_yields_to_a_healthy_one():
    from protocols.gateways.routing import RoutingPolicy, plan

    router = _router(open_after_failures=1)
    router.record("cashfree", ok=False, now=0)
    steps = plan(
        router,
        RoutingPolicy(),
        amount_paise=RS_601,
        gateways=["razorpay", "cashfree"],
        bucket=0,
        now=1,
    )
    assert steps == [("razorpay", "health"), ("cashfree", "failover")]
