"""The catalog a tenant admin manages: resources, weekly schedules that generate slots, slot
capacity, booking extras (participants for puja and chadhava) and cancellation policies.

Money is integer paise; capacities are integers. Schedule times are the tenant's local
wall-clock times (``tenants.timezone``); :mod:`protocols.schedule` turns a schedule into slots.
"""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from protocols.auth import Language, Name
from protocols.errors import Invalid
from protocols.wire import WireModel

ResourceKind = Literal["puja", "chadhava", "seat", "court", "consultation", "yatra"]
ResourceStatus = Literal["active", "archived"]
EXTRAS_KINDS: frozenset[str] = frozenset({"puja", "chadhava"})
"""Kinds whose bookings carry participants and special requests."""

MAX_PRICE_PAISE = 100_000_000_000  # ₹1 billion: far above any real price, far below bigint
MAX_CAPACITY = 100_000
MAX_SCHEDULE_DAYS = 366
MAX_WINDOWS_PER_DAY = 48

Paise = Annotated[StrictInt, Field(ge=0, le=MAX_PRICE_PAISE)]
Capacity = Annotated[StrictInt, Field(ge=0, le=MAX_CAPACITY)]
SlotCapacity = Annotated[StrictInt, Field(ge=1, le=MAX_CAPACITY)]
DurationMins = Annotated[StrictInt, Field(ge=5, le=1440)]
Description = Annotated[str, StringConstraints(max_length=4000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ParticipantField = Literal["gotra", "nakshatra", "relation"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _check_image_key(value: str) -> str:
    if ".." in value or "//" in value:
        raise ValueError("an image key may not contain '..' or '//'")
    return value


ImageKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$"),
    AfterValidator(_check_image_key),
]
"""An object-store key (``tenants/<id>/puja.jpg``), never a URL."""
ImageKeys = Annotated[list[ImageKey], Field(max_length=20)]
Languages = Annotated[list[Language], Field(max_length=20)]


def _iso_day(value: Any) -> Any:
    # Only "YYYY-MM-DD" strings (or dates built in Python): no timestamps, no other formats.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or len(value) != 10:
        raise ValueError("a date must be YYYY-MM-DD")
    return dt.date.fromisoformat(value)


IsoDay = Annotated[dt.date, BeforeValidator(_iso_day)]


def _clock_mins(value: Any) -> Any:
    """``"HH:MM"`` (``"24:00"`` allowed, meaning the end of the day) to minutes after midnight."""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ValueError("a time must be HH:MM")
    hours, mins = value[:2], value[3:]
    if not (hours.isdigit() and mins.isdigit()):
        raise ValueError("a time must be HH:MM")
    total = int(hours) * 60 + int(mins)
    if int(mins) > 59 or total > 24 * 60:
        raise ValueError("a time must be between 00:00 and 24:00")
    return total


ClockMins = Annotated[
    int,
    BeforeValidator(_clock_mins),
    PlainSerializer(lambda mins: f"{mins // 60:02d}:{mins % 60:02d}", return_type=str),
]


# -- booking extras and cancellation -----------------------------------------------------------


class BookingFields(WireModel):
    """What a puja/chadhava booking asks of the devotee. ``name`` is always required."""

    max_participants: StrictInt = Field(default=10, ge=1, le=100)
    required: list[ParticipantField] = Field(default_factory=list, max_length=3)
    special_requests: StrictBool = True

    @field_validator("required")
    @classmethod
    def _unique(cls, value: list[ParticipantField]) -> list[ParticipantField]:
        return list(dict.fromkeys(value))


class Participant(WireModel):
    name: ShortText
    gotra: ShortText | None = None
    nakshatra: ShortText | None = None
    relation: ShortText | None = None


class BookingExtras(WireModel):
    """Sent with ``hold:create`` for puja and chadhava; checked by :func:`check_extras`."""

    participants: list[Participant] = Field(default_factory=list, max_length=100)
    special_requests: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @property
    def is_empty(self) -> bool:
        return not self.participants and not self.special_requests


class CancellationRule(WireModel):
    """Cancelling at least ``hours_before`` the start refunds ``refund_percent`` of the price."""

    hours_before: StrictInt = Field(ge=0, le=24 * MAX_SCHEDULE_DAYS)
    refund_percent: StrictInt = Field(ge=0, le=100)


CancellationPolicy = Annotated[list[CancellationRule], Field(max_length=20)]


def check_extras(
    kind: str, fields: BookingFields | None, extras: BookingExtras
) -> dict[str, Any] | None:
    """The extras to store on the hold (None if there are none), or Invalid.

    Only puja and chadhava take extras; their resource's ``fields`` (None: the defaults) bound
    the number of participants, name the required participant fields, and say whether special
    requests are accepted.
    """
    if kind not in EXTRAS_KINDS:
        if extras.is_empty:
            return None
        raise Invalid(
            f"a {kind} booking takes no participants or special requests",
            {"loc": ["extras"], "kind": kind},
        )
    rules = fields or BookingFields()
    if len(extras.participants) > rules.max_participants:
        raise Invalid(
            "too many participants",
            {"loc": ["extras", "participants"], "max_participants": rules.max_participants},
        )
    for i, person in enumerate(extras.participants):
        for name in rules.required:
            if getattr(person, name) is None:
                raise Invalid(
                    f"participant {name} is required",
                    {"loc": ["extras", "participants", str(i), name]},
                )
    if extras.special_requests and not rules.special_requests:
        raise Invalid(
            "this resource takes no special requests",
            {"loc": ["extras", "special_requests"]},
        )
    return None if extras.is_empty else extras.model_dump(mode="json")


# -- resources ---------------------------------------------------------------------------------


class ResourceFields(WireModel):
    """Everything an admin sets on a resource (the kind is fixed at creation)."""

    name: Name
    price_paise: Paise = 0
    capacity: Capacity | None = None
    duration_mins: DurationMins | None = None
    description: Description | None = None
    images: ImageKeys = Field(default_factory=list)
    languages: Languages = Field(default_factory=list)
    booking_fields: BookingFields | None = None
    cancellation_policy: CancellationPolicy = Field(default_factory=list)

    @field_validator("images", "languages")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("cancellation_policy")
    @classmethod
    def _sorted_policy(cls, value: list[CancellationRule]) -> list[CancellationRule]:
        hours = [r.hours_before for r in value]
        if len(set(hours)) != len(hours):
            raise ValueError("each hours_before may appear once")
        return sorted(value, key=lambda r: r.hours_before, reverse=True)


class CreateResource(ResourceFields):
    """Puja and chadhava get the default :class:`BookingFields` when none are given (stored,
    so what bookings are checked against is visible); other kinds take none."""

    kind: ResourceKind

    @model_validator(mode="before")
    @classmethod
    def _default_booking_fields(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("kind") in EXTRAS_KINDS
            and data.get("booking_fields") is None
        ):
            return {**data, "booking_fields": {}}
        return data

    @model_validator(mode="after")
    def _extras_by_kind(self) -> Self:
        if self.kind not in EXTRAS_KINDS and self.booking_fields is not None:
            raise ValueError(f"booking_fields are only for {', '.join(sorted(EXTRAS_KINDS))}")
        return self

    def updated(self, change: UpdateResource) -> CreateResource:
        """This resource with the fields ``change`` sent applied, validated again as a whole
        (raises pydantic's ValidationError)."""
        sent = change.model_fields_set & set(ResourceFields.model_fields)
        return CreateResource.model_validate(
            {**self.model_dump(), **change.model_dump(include=sent)}
        )


class UpdateResource(WireModel):
    """PATCH: only the fields sent change; ``null`` clears an optional field. With ``version``
    the change applies only if the resource still has that version (else ``conflict``)."""

    name: Name | None = None
    price_paise: Paise | None = None
    capacity: Capacity | None = None
    duration_mins: DurationMins | None = None
    description: Description | None = None
    images: ImageKeys | None = None
    languages: Languages | None = None
    booking_fields: BookingFields | None = None
    cancellation_policy: CancellationPolicy | None = None
    status: ResourceStatus | None = None
    version: StrictInt | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _required_not_null(self) -> Self:
        for name in ("name", "price_paise", "images", "languages", "cancellation_policy", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ResourceView(WireModel):
    resource_id: UUID
    tenant_id: UUID
    kind: str
    name: str
    price_paise: int
    capacity: int | None
    duration_mins: int | None
    description: str | None
    images: list[str]
    languages: list[str]
    status: ResourceStatus
    booking_fields: BookingFields | None
    cancellation_policy: list[CancellationRule]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ResourceRemoved(WireModel):
    """``DELETE``: ``deleted`` when nothing referenced the resource, else ``archived``."""

    resource_id: UUID
    outcome: Literal["deleted", "archived"]


# -- schedules and slots -----------------------------------------------------------------------


class ScheduleWindow(WireModel):
    """Slots start at ``start``, ``start + every_mins``, ... and each ends by ``end``
    (``"HH:MM"``, tenant-local; ``end`` may be ``"24:00"``). ``capacity`` and ``price_paise``
    override the resource's defaults."""

    start: ClockMins
    end: ClockMins
    every_mins: StrictInt = Field(ge=5, le=1440)
    capacity: SlotCapacity | None = None
    price_paise: Paise | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start >= 24 * 60:
            raise ValueError("start must be before 24:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


DayWindows = Annotated[list[ScheduleWindow], Field(max_length=MAX_WINDOWS_PER_DAY)]


def _check_no_overlap(windows: list[ScheduleWindow]) -> list[ScheduleWindow]:
    ordered = sorted(windows, key=lambda w: w.start)
    for earlier, later in pairwise(ordered):
        if later.start < earlier.end:
            raise ValueError("windows of one day must not overlap")
    return ordered


class WeeklySchedule(WireModel):
    """Generate slots for every date in ``from``..``to`` (inclusive, at most 366 days).

    A date in ``special_days`` uses those windows instead of its weekday's; a date in
    ``blackout_dates`` gets none. Blackout and special dates outside the range are ignored.
    """

    model_config = ConfigDict(populate_by_name=True)

    date_from: IsoDay = Field(alias="from")
    date_to: IsoDay = Field(alias="to")
    weekly: dict[Weekday, DayWindows] = Field(default_factory=dict)
    blackout_dates: list[IsoDay] = Field(default_factory=list, max_length=MAX_SCHEDULE_DAYS)
    special_days: dict[IsoDay, DayWindows] = Field(
        default_factory=dict, max_length=MAX_SCHEDULE_DAYS
    )

    @field_validator("weekly", "special_days")
    @classmethod
    def _days_do_not_overlap(cls, value: dict[Any, list[ScheduleWindow]]) -> dict[Any, Any]:
        return {day: _check_no_overlap(windows) for day, windows in value.items()}

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.date_to < self.date_from:
            raise ValueError("to must not be before from")
        if (self.date_to - self.date_from).days + 1 > MAX_SCHEDULE_DAYS:
            raise ValueError(f"a schedule covers at most {MAX_SCHEDULE_DAYS} days")
        if set(self.blackout_dates) & set(self.special_days):
            raise ValueError("a date cannot be both a blackout date and a special day")
        return self

    def windows_on(self, day: dt.date) -> list[ScheduleWindow]:
        if day in self.blackout_dates:
            return []
        if day in self.special_days:
            return self.special_days[day]
        return self.weekly.get(WEEKDAYS[day.weekday()], [])


class GenerateSlotsResult(WireModel):
    """``created`` new slots; ``skipped`` already existed (same resource and start)."""

    created: int
    skipped: int


class SlotView(WireModel):
    slot_id: UUID
    resource_id: UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    local_date: dt.date
    capacity: int
    price_paise: int
    held: int
    confirmed: int
    available: int


class SlotList(WireModel):
    slots: list[SlotView]
    truncated: bool


class UpdateSlot(WireModel):
    """Capacity 0 closes the slot; below what is held and confirmed is a ``conflict``."""

    capacity: Capacity


class ResourceList(WireModel):
    """``GET /api/v1/catalog/resources``."""

    resources: list[ResourceView]
