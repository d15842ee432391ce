"""Weekly schedules: validation and expansion into slots, in the tenant's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from protocols.catalog import (
    WEEKDAYS,
    BookingExtras,
    BookingFields,
    CreateResource,
    UpdateResource,
    WeeklySchedule,
    check_extras,
)
from protocols.errors import Invalid
from protocols.schedule import expand_schedule

IST = ZoneInfo("Asia/Kolkata")
TODAY = date(2026, 3, 1)  # a Sunday
EVERY_DAY = {
    day: [{"start": "06:00", "end": "20:00", "every_mins": 30, "capacity": 20}] for day in WEEKDAYS
}


def _schedule(**overrides: Any) -> WeeklySchedule:
    body: dict[str, Any] = {"from": "2026-03-02", "to": "2026-03-08", "weekly": EVERY_DAY}
    body.update(overrides)
    return WeeklySchedule.model_validate(body)


def _expand(schedule: WeeklySchedule, tz: ZoneInfo = IST, **kw: Any):
    args: dict[str, Any] = {
        "tz": tz,
        "today": TODAY,
        "duration_mins": None,
        "default_capacity": None,
        "default_price_paise": 110_000,
    }
    args.update(kw)
    return expand_schedule(schedule, **args)


def test_every_day_six_to_eight_every_half_hour_makes_28_slots_a_day_in_ist():
    slots = _expand(_schedule())
    assert len(slots) == 7 * 28
    first, last = slots[0], slots[27]
    # IST is UTC+05:30 all year: 06:00 IST is 00:30 UTC, 19:30 IST is 14:00 UTC.
    assert first.starts_at == datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    assert first.starts_at.astimezone(IST).time() == time(6, 0)
    assert last.starts_at.astimezone(IST).time() == time(19, 30)
    assert last.ends_at.astimezone(IST).time() == time(20, 0)
    assert {s.local_date for s in slots[:28]} == {date(2026, 3, 2)}
    assert all(s.capacity == 20 and s.price_paise == 110_000 for s in slots)
    assert [s.starts_at for s in slots] == sorted(s.starts_at for s in slots)


def test_a_late_evening_ist_slot_keeps_its_local_date_though_utc_is_a_day_behind():
    schedule = _schedule(
        weekly={"mon": [{"start": "00:00", "end": "01:00", "every_mins": 60, "capacity": 1}]}
    )
    (slot,) = _expand(schedule)
    assert slot.local_date == date(2026, 3, 2)
    assert slot.starts_at == datetime(2026, 3, 1, 18, 30, tzinfo=UTC)


def test_blackout_dates_get_nothing_and_special_days_replace_the_weekday():
    special = [{"start": "04:00", "end": "06:00", "every_mins": 60, "capacity": 100}]
    schedule = _schedule(
        blackout_dates=["2026-03-03", "2027-01-01"],  # the second is outside the range
        special_days={"2026-03-04": special},
    )
    slots = _expand(schedule)
    by_day: dict[date, int] = {}
    for s in slots:
        by_day[s.local_date] = by_day.get(s.local_date, 0) + 1
    assert date(2026, 3, 3) not in by_day
    assert by_day[date(2026, 3, 4)] == 2
    assert len(slots) == 5 * 28 + 2
    festival = [s for s in slots if s.local_date == date(2026, 3, 4)]
    assert [s.starts_at.astimezone(IST).time() for s in festival] == [time(4), time(5)]
    assert all(s.capacity == 100 for s in festival)


def test_window_capacity_and_price_override_the_resource_defaults():
    schedule = _schedule(
        weekly={
            "mon": [{"start": "06:00", "end": "07:00", "every_mins": 60}],
            "tue": [
                {"start": "06:00", "end": "07:00", "every_mins": 60, "capacity": 3},
                {"start": "18:00", "end": "19:00", "every_mins": 60, "price_paise": 5},
            ],
        }
    )
    slots = _expand(schedule, default_capacity=9)
    assert [(s.capacity, s.price_paise) for s in slots] == [(9, 110_000), (3, 110_000), (9, 5)]
    with pytest.raises(Invalid):
        _expand(schedule, default_capacity=None)


def test_the_resource_duration_sets_slot_length_and_every_slot_ends_by_the_window_end():
    schedule = _schedule(
        weekly={"mon": [{"start": "06:00", "end": "09:00", "every_mins": 30, "capacity": 1}]}
    )
    slots = _expand(schedule, duration_mins=90)
    assert [s.starts_at.astimezone(IST).time() for s in slots] == [
        time(6),
        time(6, 30),
        time(7),
        time(7, 30),
    ]
    assert slots[-1].ends_at.astimezone(IST).time() == time(9)
    with pytest.raises(Invalid):
        _expand(schedule, duration_mins=240)


def test_a_window_may_end_at_midnight():
    schedule = _schedule(
        weekly={"mon": [{"start": "23:00", "end": "24:00", "every_mins": 30, "capacity": 1}]}
    )
    assert len(_expand(schedule)) == 2


def test_a_start_that_does_not_exist_on_a_daylight_saving_day_is_skipped():
    new_york = ZoneInfo("America/New_York")  # clocks jump 02:00 → 03:00 on 2026-03-08
    schedule = _schedule(
        weekly={"sun": [{"start": "01:00", "end": "04:00", "every_mins": 60, "capacity": 1}]}
    )
    slots = _expand(schedule, tz=new_york)
    assert [s.starts_at.astimezone(new_york).time() for s in slots] == [time(1), time(3)]


def test_too_many_slots_and_past_dates_are_refused():
    with pytest.raises(Invalid) as err:
        _expand(_schedule(), max_slots=100)
    assert err.value.details == {"max_slots": 100}
    with pytest.raises(Invalid):
        _expand(_schedule(), today=date(2026, 3, 3))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"to": "2026-03-01"}, id="to-before-from"),
        pytest.param({"to": "2027-03-03"}, id="more-than-366-days"),
        pytest.param({"from": "2026-02-30"}, id="impossible-date"),
        pytest.param({"from": 20260302}, id="date-as-number"),
        pytest.param({"weekly": {"mon": [{"start": "06:00", "end": "06:00", "every_mins": 30}]}}),
        pytest.param({"weekly": {"mon": [{"start": "6:00", "end": "07:00", "every_mins": 30}]}}),
        pytest.param({"weekly": {"mon": [{"start": "06:60", "end": "07:00", "every_mins": 30}]}}),
        pytest.param({"weekly": {"mon": [{"start": "06:00", "end": "24:01", "every_mins": 30}]}}),
        pytest.param({"weekly": {"mon": [{"start": "06:00", "end": "07:00", "every_mins": 4}]}}),
        pytest.param({"weekly": {"mon": [{"start": "06:00", "end": "07:00", "every_mins": 1441}]}}),
        pytest.param({"weekly": {"funday": []}}, id="unknown-weekday"),
        pytest.param(
            {
                "weekly": {
                    "mon": [
                        {"start": "06:00", "end": "08:00", "every_mins": 30},
                        {"start": "07:00", "end": "09:00", "every_mins": 30},
                    ]
                }
            },
            id="overlapping-windows",
        ),
        pytest.param(
            {"blackout_dates": ["2026-03-04"], "special_days": {"2026-03-04": []}},
            id="blackout-and-special",
        ),
        pytest.param({"unknown": 1}, id="unknown-field"),
    ],
)
def test_bad_schedules_are_refused(change: dict[str, Any]):
    with pytest.raises(ValidationError):
        _schedule(**change)


def test_cancellation_policy_is_sorted_by_hours_and_booking_fields_only_for_puja_and_chadhava():
    resource = CreateResource.model_validate(
        {
            "kind": "puja",
            "name": "Rudrabhishek",
            "cancellation_policy": [
                {"hours_before": 2, "refund_percent": 0},
                {"hours_before": 48, "refund_percent": 100},
                {"hours_before": 24, "refund_percent": 50},
            ],
        }
    )
    assert [r.hours_before for r in resource.cancellation_policy] == [48, 24, 2]
    assert resource.booking_fields == BookingFields()
    with pytest.raises(ValidationError):
        CreateResource.model_validate({"kind": "court", "name": "Court 1", "booking_fields": {}})
    with pytest.raises(ValidationError):
        CreateResource.model_validate({"kind": "seat_block", "name": "Old kind"})
    with pytest.raises(ValidationError):
        CreateResource.model_validate(
            {"kind": "seat", "name": "Hall", "price_paise": 10.5}  # paise are integers
        )
    updated = resource.updated(UpdateResource.model_validate({"name": "Laghu Rudra"}))
    assert updated.name == "Laghu Rudra" and updated.cancellation_policy[0].hours_before == 48


def test_extras_are_checked_against_the_booking_fields():
    fields = BookingFields(max_participants=2, required=["gotra"], special_requests=False)
    ok = BookingExtras.model_validate({"participants": [{"name": "Asha", "gotra": "Kashyap"}]})
    assert check_extras("puja", fields, ok) == {
        "participants": [{"name": "Asha", "gotra": "Kashyap", "nakshatra": None, "relation": None}],
        "special_requests": None,
    }
    three = BookingExtras.model_validate(
        {"participants": [{"name": n, "gotra": "Kashyap"} for n in "abc"]}
    )
    no_gotra = BookingExtras.model_validate({"participants": [{"name": "Asha"}]})
    wish = BookingExtras.model_validate({"special_requests": "near the sanctum"})
    for bad in (three, no_gotra, wish):
        with pytest.raises(Invalid):
            check_extras("chadhava", fields, bad)
    with pytest.raises(Invalid):
        check_extras("court", None, ok)
    assert check_extras("court", None, BookingExtras()) is None
