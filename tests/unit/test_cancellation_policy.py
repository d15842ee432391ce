"""The cancellation policy's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protocols.cancellation import refund_paise, refund_percent

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
POLICY = [{"hours_before": 6, "refund_percent": 50}, {"hours_before": 48, "refund_percent": 100}]


def test_the_largest_rule_still_met_applies():
    assert refund_percent(POLICY, starts_at=NOW + timedelta(hours=72), now=NOW) == 100
    assert refund_percent(POLICY, starts_at=NOW + timedelta(hours=48), now=NOW) == 100
    assert refund_percent(POLICY, starts_at=NOW + timedelta(hours=30), now=NOW) == 50
    assert refund_percent(POLICY, starts_at=NOW + timedelta(hours=5), now=NOW) == 0
    assert refund_percent([], starts_at=NOW + timedelta(days=9), now=NOW) == 0


def test_refunds_round_down_to_whole_paise():
    assert refund_paise(99_999, 50) == 49_999
    assert refund_paise(100_000, 100) == 100_000
    assert refund_paise(1, 99) == 0
