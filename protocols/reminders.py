"""Reminders a tenant's staff plan for a booking, and booking reschedules: wire models and the
pure rule for when a daily remedy reminder is due."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field, RootModel, StringConstraints

from protocols.wire import IdempotencyKey, WireModel

MAX_REMEDY_DAYS = 90
MAX_FOLLOW_UP_AHEAD = timedelta(days=366)

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
# [0-9], not \d: \d also matches other scripts' digits ("१२:३०"), which time() refuses.
LocalTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class PlanRemedy(WireModel):
    """A remedy practice reminded once a day at ``daily_at`` (the tenant's local time) for
    ``days`` days, from the next ``daily_at`` on."""

    kind: Literal["remedy"]
    title: Title
    body: Body
    daily_at: LocalTime
    days: int = Field(ge=1, le=MAX_REMEDY_DAYS)
    idempotency_key: IdempotencyKey


class PlanFollowUp(WireModel):
    """One nudge at ``at`` (with its UTC offset), within a year."""

    kind: Literal["follow_up"]
    title: Title
    body: Body
    at: AwareDatetime
    idempotency_key: IdempotencyKey


class PlanReminders(RootModel[Annotated[PlanRemedy | PlanFollowUp, Field(discriminator="kind")]]):
    """``POST /api/v1/bookings/{booking_id}/reminders``: a remedy or a follow-up plan."""


class RescheduleBooking(WireModel):
    """``POST /api/v1/bookings/{booking_id}/reschedule``: move a confirmed booking to another
    slot of the same tenant; the same key answers the same move."""

    slot_id: UUID
    idempotency_key: IdempotencyKey


def remedy_times(daily_at: str, days: int, *, timezone: str, now: datetime) -> list[datetime]:
    """``days`` instants, one per local day at ``daily_at`` in ``timezone``, the first being
    the next one after ``now`` (today's if it is still ahead, else tomorrow's)."""
    zone = ZoneInfo(timezone)
    hour, minute = (int(part) for part in daily_at.split(":"))
    at = time(hour, minute)
    today = now.astimezone(zone).date()
    first = today if _local(today, at, zone) > now else today + timedelta(days=1)
    return [_local(first + timedelta(days=i), at, zone) for i in range(days)]


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


# -- REST answers ----------------------------------------------------------------------------


class ReminderView(WireModel):
    """A scheduled message of a booking."""

    id: UUID
    booking_id: UUID | None
    user_id: UUID
    kind: str = Field(description="the notification type it becomes")
    purpose: str = Field(description="booking, remedy, follow_up, ...")
    data: dict[str, Any]
    due_at: datetime
    status: Literal["scheduled", "sent", "cancelled"]
    created_at: datetime
    sent_at: datetime | None
    cancelled_at: datetime | None


class BookingReminders(WireModel):
    """``POST`` (201 planned now, 200 already planned) and ``GET
    /api/v1/bookings/{booking_id}/reminders``: the plan's rows / the booking's messages in due
    order."""

    booking_id: UUID
    reminders: list[ReminderView]


class BookingRescheduled(WireModel):
    """``POST /api/v1/bookings/{booking_id}/reschedule``; the same key answers the same move."""

    booking_id: UUID
    from_slot_id: UUID
    slot_id: UUID = Field(description="the slot the booking is now on")
    qty: int
    rescheduled_at: datetime
    idempotency_key: str
    fee_paise: int = Field(description="reschedule fee charged from the owner's wallet; 0: none")
    fee_transfer_id: str | None = Field(description="the wallet transfer of the fee, if any")
