"""Live status of a booking and live video streams: wire models and the transition rule."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from protocols.errors import Conflict
from protocols.wire import WireModel

LiveStatus = Literal["assigned", "started", "in_progress", "completed"]
STATUS_ORDER: tuple[LiveStatus, ...] = ("assigned", "started", "in_progress", "completed")

LIVE_STATUS_EVENT = "live:status"
STREAM_EVENT = "stream"
VIEWERS_EVENT = "stream:viewers"


def check_transition(current: str | None, new: str) -> bool:
    """True if ``current → new`` moves the booking forward (steps may be skipped); False if
    ``new`` is the current status (a retried push: nothing to do, nothing notified twice).
    Raises ``Conflict`` for a move backwards."""
    if current == new:
        return False
    rank = STATUS_ORDER.index(new)  # type: ignore[arg-type]
    if current is not None and STATUS_ORDER.index(current) > rank:  # type: ignore[arg-type]
        raise Conflict(
            f"live status cannot go from {current} to {new}",
            {"from": current, "to": new, "reason": "invalid_transition"},
        )
    return True


class PushLiveStatus(WireModel):
    """``live:status`` (client → server), from the assigned staff member or a tenant admin."""

    booking_id: UUID
    status: LiveStatus
    note: str | None = Field(default=None, max_length=500)


class FollowBooking(WireModel):
    """``live:subscribe``: follow a booking's live status; ``since`` replays what was missed."""

    booking_id: UUID
    since: int | None = Field(default=None, ge=0)


class UnfollowBooking(WireModel):
    booking_id: UUID


class SyncUserFeed(WireModel):
    """``user:sync``: replay the caller's own feed after ``since``."""

    since: int = Field(ge=0)


class AssignStaff(WireModel):
    """``PUT /api/v1/bookings/{booking_id}/assignee``."""

    staff_user_id: UUID


class StartStream(WireModel):
    """``stream:start``: exactly one of ``booking_id`` (a booked puja) or ``resource_id``
    (public darshan/aarti of a resource)."""

    booking_id: UUID | None = None
    resource_id: UUID | None = None
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https://")
    kind: Literal["hls", "youtube", "meet"]

    @model_validator(mode="after")
    def _one_target(self) -> StartStream:
        if (self.booking_id is None) == (self.resource_id is None):
            raise ValueError("give exactly one of booking_id or resource_id")
        return self


class StreamRef(WireModel):
    """``stream:stop``, ``stream:join``, ``stream:leave``."""

    stream_id: UUID


class GetPresence(WireModel):
    """``presence:get``: which of these users of your tenant are online."""

    user_ids: list[UUID] = Field(min_length=1, max_length=200)
