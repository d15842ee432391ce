"""Remedies an astrologer assigns to a client (a mantra, a fast, a donation ...), reminded
daily if asked, and completed by the client with a rating."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from protocols.reminders import MAX_REMEDY_DAYS, LocalTime, ReminderView
from protocols.wire import IdempotencyKey, WireModel

RemedyStatus = Literal["assigned", "completed"]


class AssignRemedy(WireModel):
    """``POST /api/v1/remedies``. With ``reminders``, ``daily_at`` (the tenant's local time) is
    required and the client is reminded once a day for ``duration_days`` days."""

    client_user_id: UUID
    booking_id: UUID | None = None
    type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    instructions: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    duration_days: int = Field(ge=1, le=MAX_REMEDY_DAYS)
    reminders: bool = False
    daily_at: LocalTime | None = None
    idempotency_key: IdempotencyKey

    @model_validator(mode="after")
    def _daily_at_with_reminders(self) -> AssignRemedy:
        if self.reminders and self.daily_at is None:
            raise ValueError("daily_at is required when reminders is true")
        return self


class CompleteRemedy(WireModel):
    """``POST /api/v1/remedies/{remedy_id}/complete`` by the client."""

    rating: int = Field(ge=1, le=5)
    feedback: Annotated[str, StringConstraints(max_length=2000)] | None = None


# -- answers ---------------------------------------------------------------------------------


class RemedyView(WireModel):
    remedy_id: UUID
    astrologer_user_id: UUID
    client_user_id: UUID
    booking_id: UUID | None
    type: str
    instructions: str
    duration_days: int
    reminders: bool
    daily_at: str | None = Field(description="HH:MM in the tenant's timezone")
    status: RemedyStatus
    feedback: str | None
    rating: int | None
    created_at: datetime
    completed_at: datetime | None


class AssignedRemedy(RemedyView):
    """``POST /api/v1/remedies``: the remedy and the reminders planned for it."""

    reminders_planned: list[ReminderView] = Field(
        description="the daily reminders planned for it (purpose remedy)"
    )


class RemedyList(WireModel):
    """``GET /api/v1/remedies``: a client's own remedies; staff see the tenant's."""

    remedies: list[RemedyView]


class CompletedRemedy(RemedyView):
    """``POST /api/v1/remedies/{remedy_id}/complete``."""

    completed_now: bool = Field(description="false when it had been completed before")
