"""Turn a :class:`~protocols.catalog.WeeklySchedule` into the slots it describes.

Pure: no clock, no database. Times are the tenant's wall-clock times in ``tz``; a slot's
``local_date`` is the date it starts on there. Where the clock jumps forward (daylight saving),
a start that does not exist that day is skipped; where it falls back, the first of the two
instants is used. India has no daylight saving, so IST schedules are never affected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from protocols.catalog import ScheduleWindow, WeeklySchedule
from protocols.errors import Invalid

MAX_SLOTS_PER_CALL = 20_000


@dataclass(frozen=True)
class PlannedSlot:
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC
    local_date: date
    capacity: int
    price_paise: int


def expand_schedule(
    schedule: WeeklySchedule,
    *,
    tz: ZoneInfo,
    today: date,
    duration_mins: int | None,
    default_capacity: int | None,
    default_price_paise: int,
    max_slots: int = MAX_SLOTS_PER_CALL,
) -> list[PlannedSlot]:
    """Every slot of the schedule, in start order.

    Each slot lasts ``duration_mins`` (the resource's duration; without one, the window's
    ``every_mins``) and ends by its window's end. Capacity and price come from the window, else
    from the resource's defaults. Raises Invalid if the range starts before ``today`` (the
    tenant's date), a window has no capacity to use or is shorter than one slot, or the
    schedule makes more than ``max_slots`` slots.
    """
    if schedule.date_from < today:
        raise Invalid("slots can only be generated from today on", {"loc": ["body", "from"]})
    planned: list[PlannedSlot] = []
    day = schedule.date_from
    while day <= schedule.date_to:
        for window in schedule.windows_on(day):
            planned.extend(
                _window_slots(
                    window,
                    day,
                    tz=tz,
                    duration_mins=duration_mins,
                    default_capacity=default_capacity,
                    default_price_paise=default_price_paise,
                )
            )
            if len(planned) > max_slots:
                raise Invalid(
                    f"this schedule makes more than {max_slots} slots; split the date range",
                    {"max_slots": max_slots},
                )
        day += timedelta(days=1)
    return planned


def _window_slots(
    window: ScheduleWindow,
    day: date,
    *,
    tz: ZoneInfo,
    duration_mins: int | None,
    default_capacity: int | None,
    default_price_paise: int,
) -> list[PlannedSlot]:
    capacity = window.capacity if window.capacity is not None else default_capacity
    if capacity is None:
        raise Invalid(
            "give the window a capacity, or the resource a default capacity",
            {"loc": ["body", "capacity"]},
        )
    price = window.price_paise if window.price_paise is not None else default_price_paise
    length = duration_mins or window.every_mins
    if window.start + length > window.end:
        raise Invalid(
            f"a window is shorter than one {length}-minute slot", {"date": day.isoformat()}
        )
    midnight = datetime.combine(day, time())
    out: list[PlannedSlot] = []
    for start in range(window.start, window.end - length + 1, window.every_mins):
        wall = midnight + timedelta(minutes=start)
        starts_at = wall.replace(tzinfo=tz).astimezone(UTC)
        if starts_at.astimezone(tz).replace(tzinfo=None) != wall:
            continue  # this wall-clock time does not exist today (clocks jumped forward)
        out.append(
            PlannedSlot(
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=length),
                local_date=day,
                capacity=capacity,
                price_paise=price,
            )
        )
    return out
