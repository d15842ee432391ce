"""Which gateway takes a payment: the cheapest one that is healthy.

Each gateway has a circuit breaker fed with the outcome of every call (success, error or
timeout). It *opens* after ``open_after_failures`` failures in a row, or when at least
``min_calls`` calls in the rolling window failed at ``open_at_error_rate`` or more. While open,
the gateway is skipped for ``cooldown_secs``; then it is *half-open*: one trial call is let
through, and its outcome closes the breaker or opens it again (for a longer cool-down, up to
``max_cooldown_secs``).

:meth:`GatewayRouter.preference` orders gateways for one amount: healthy ones by exact fee
(see :mod:`protocols.gateways.fees`), then the rest by fee, so a payment is never refused just
because every breaker is open. Pure: the clock is passed in, nothing here does I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from protocols.gateways.fees import FeeSchedule


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    window_secs: float = 60.0
    open_after_failures: int = 3
    min_calls: int = 10
    open_at_error_rate: float = 0.5
    cooldown_secs: float = 30.0
    max_cooldown_secs: float = 300.0


@dataclass
class CircuitBreaker:
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    open_until: float = 0.0
    cooldown: float = 0.0
    trial_in_flight: bool = False
    calls: deque[tuple[float, bool]] = field(default_factory=deque)

    def allows(self, now: float) -> bool:
        """May a call go to this gateway now? A half-open breaker lets one trial through."""
        if self.state is BreakerState.OPEN and now >= self.open_until:
            self.state = BreakerState.HALF_OPEN
            self.trial_in_flight = False
        if self.state is BreakerState.CLOSED:
            return True
        return self.state is BreakerState.HALF_OPEN and not self.trial_in_flight

    def started(self, now: float) -> None:
        """A call is going out (marks the half-open trial as taken)."""
        if self.allows(now) and self.state is BreakerState.HALF_OPEN:
            self.trial_in_flight = True

    def record(self, ok: bool, now: float) -> None:
        self.calls.append((now, ok))
        while self.calls and self.calls[0][0] < now - self.policy.window_secs:
            self.calls.popleft()
        if ok:
            self.consecutive_failures = 0
            if self.state is not BreakerState.CLOSED:
                self.state, self.cooldown, self.trial_in_flight = BreakerState.CLOSED, 0.0, False
            return
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN:
            self._open(now, longer=True)
        elif self.state is BreakerState.CLOSED and self._should_open():
            self._open(now, longer=False)

    def error_rate(self) -> float:
        if not self.calls:
            return 0.0
        return sum(1 for _, ok in self.calls if not ok) / len(self.calls)

    def _should_open(self) -> bool:
        if self.consecutive_failures >= self.policy.open_after_failures:
            return True
        return (
            len(self.calls) >= self.policy.min_calls
            and self.error_rate() >= self.policy.open_at_error_rate
        )

    def _open(self, now: float, *, longer: bool) -> None:
        base = self.policy.cooldown_secs
        self.cooldown = min(self.cooldown * 2, self.policy.max_cooldown_secs) if longer else base
        self.cooldown = max(self.cooldown, base)
        self.state = BreakerState.OPEN
        self.open_until = now + self.cooldown
        self.trial_in_flight = False


class GatewayRouter:
    """One per hub process (health is what this process has seen)."""

    def __init__(
        self, schedules: Mapping[str, FeeSchedule], policy: BreakerPolicy | None = None
    ) -> None:
        if not schedules:
            raise ValueError("a router needs at least one gateway")
        self._schedules = dict(schedules)
        self._breakers = {name: CircuitBreaker(policy or BreakerPolicy()) for name in schedules}

    def preference(self, amount_paise: int, now: float) -> list[str]:
        """Gateways to try in order: healthy by fee, then unhealthy by fee (ties: listed
        first wins, as in :func:`protocols.gateways.fees.cheapest`)."""
        order = list(self._schedules)
        by_fee = sorted(
            order,
            key=lambda n: (self._schedules[n].exact_fee(amount_paise), order.index(n)),
        )
        healthy = [n for n in by_fee if self._breakers[n].allows(now)]
        return healthy + [n for n in by_fee if n not in healthy]

    def preference_among(self, amount_paise: int, gateways: Sequence[str], now: float) -> list[str]:
        """:meth:`preference`, limited to ``gateways`` (those a tenant has configured)."""
        return [g for g in self.preference(amount_paise, now) if g in gateways]

    def by_fee(self, amount_paise: int, gateways: Sequence[str]) -> list[str]:
        """``gateways`` cheapest first, health ignored (ties: listed first)."""
        order = list(self._schedules)
        ranked = sorted(
            order, key=lambda n: (self._schedules[n].exact_fee(amount_paise), order.index(n))
        )
        return [g for g in ranked if g in gateways]

    def allows(self, gateway: str, now: float) -> bool:
        return self._breakers[gateway].allows(now)

    def started(self, gateway: str, now: float) -> None:
        self._breakers[gateway].started(now)

    def record(self, gateway: str, *, ok: bool, now: float) -> None:
        self._breakers[gateway].record(ok, now)

    def state(self, gateway: str, now: float) -> BreakerState:
        breaker = self._breakers[gateway]
        breaker.allows(now)  # let an expired cool-down turn half-open
        return breaker.state


@dataclass(frozen=True)
class RoutingPolicy:
    """A tenant's override of cheapest-first: ``pin`` one gateway, or ``split`` traffic by
    percentage weights. Failover to the others still happens when the preferred one fails."""

    mode: str = "cheapest"  # cheapest | pin | split
    gateway: str | None = None
    weights: tuple[tuple[str, int], ...] = ()


def plan(
    router: GatewayRouter,
    policy: RoutingPolicy,
    *,
    amount_paise: int,
    gateways: Sequence[str],
    bucket: int,
    now: float,
) -> list[tuple[str, str]]:
    """The gateways to try, in order, each with why: ``(gateway, reason)``.

    ``bucket`` (0-99, stable per payment) picks the gateway of a split. A preferred gateway
    whose breaker is open goes after the healthy ones (reason ``health``).
    """
    by_fee = router.by_fee(amount_paise, gateways)
    preferred: str | None = None
    reason = "cheapest"
    if policy.mode == "pin" and policy.gateway in gateways:
        preferred, reason = policy.gateway, "pin"
    elif policy.mode == "split" and policy.weights:
        total = sum(w for _, w in policy.weights)
        point = bucket * total / 100
        for name, weight in policy.weights:
            if point < weight and name in gateways:
                preferred, reason = name, "split"
                break
            point -= weight
    order = ([preferred] if preferred else []) + [g for g in by_fee if g != preferred]
    healthy = [g for g in order if router.allows(g, now)]
    ranked = healthy + [g for g in order if g not in healthy]
    first = reason if ranked and ranked[0] == order[0] else "health"
    return [(g, first if i == 0 else "failover") for i, g in enumerate(ranked)]
