"""When a daily remedy reminder is due: the tenant's local time, from the next one on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from protocols.reminders import PlanRemedy, PlanReminders, remedy_times

IST = ZoneInfo("Asia/Kolkata")


def test_a_time_still_ahead_today_starts_today_in_the_tenants_timezone():
    now = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)  # 06:00 in India
    times = remedy_times("07:30", 3, timezone="Asia/Kolkata", now=now)
    assert [t.astimezone(IST).strftime("%Y-%m-%d %H:%M") for t in times] == [
        "2026-11-22 07:30",
        "2026-11-23 07:30",
        "2026-11-24 07:30",
    ]
    assert times[0] - now == timedelta(hours=1, minutes=30)


def test_a_time_already_past_today_starts_tomorrow():
    now = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 07:30 in India: not strictly ahead
    times = remedy_times("07:30", 1, timezone="Asia/Kolkata", now=now)
    assert times == [datetime(2026, 11, 23, 7, 30, tzinfo=IST)]


def test_the_local_date_counts_not_the_utc_one():
    now = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # already 01:30 on the 23rd in India
    times = remedy_times("06:00", 1, timezone="Asia/Kolkata", now=now)
    assert times == [datetime(2026, 11, 23, 6, 0, tzinfo=IST)]


def test_a_plan_is_a_remedy_or_a_follow_up_and_nothing_else():
    plan = PlanReminders.model_validate(
        {
            "kind": "remedy",
            "title": "Mantra",
            "body": "108 times",
            "daily_at": "05:45",
            "days": 90,
            "idempotency_key": "k",
        }
    ).root
    assert isinstance(plan, PlanRemedy) and plan.days == 90
    for bad in (
        {"kind": "remedy", "daily_at": "24:00", "days": 1},
        {"kind": "remedy", "daily_at": "07:30", "days": 91},
        {"kind": "remedy", "daily_at": "07:30", "days": 0},
        {"kind": "follow_up", "at": "2026-11-30T10:00:00"},  # no offset
        {"kind": "horoscope", "at": "2026-11-30T10:00:00+05:30"},
        {"kind": "remedy", "daily_at": "07:30", "days": 1, "extra": True},
    ):
        body = {"title": "t", "body": "b", "idempotency_key": "k", **bad}
        with pytest.raises(ValidationError):
            PlanReminders.model_validate(body)
