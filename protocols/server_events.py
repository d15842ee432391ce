"""Every Socket.IO event the server sends to clients, and the shape of its payload.

:data:`SERVER_EVENTS` is the one declared list: ``/api/v1/asyncapi.json`` documents each entry,
and ``tests/e2e/test_api_documents.py`` fails when the code emits an event that is not here or
the README does not document one that is. The models describe payloads that other modules build
(they do not produce them); they allow extra fields, because feed events also carry their
stream's ``stream`` and ``seq`` and a client must ignore fields it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from protocols.availability import SlotDelta


class ServerPayload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class FeedPosition(ServerPayload):
    """Events of a replayable stream carry its name and gap-free ``seq``: apply in ``seq``
    order per stream and drop a ``seq`` you already have."""

    stream: str
    seq: int


class AvailabilityDelta(FeedPosition):
    """One committed change of a subscribed availability stream (absolute values). A folded
    delta of a slow consumer also has ``from_seq`` and ``coalesced: true``."""

    slots: list[SlotDelta]
    from_seq: int | None = None
    coalesced: bool | None = None


class AvailabilityResync(ServerPayload):
    stream: str
    seq: int = Field(description="the stream's latest seq")
    reason: Literal["slow_consumer"]


class FeedResync(ServerPayload):
    reason: Literal["fanout_reconnected", "fanout_overflow"]


class SessionEnded(ServerPayload):
    """Sent just before the server disconnects the socket."""

    code: str = Field(description="unauthorized or tenant_suspended")
    message: str
    details: Any = Field(description="{reason: token_expired | reuse_detected | logout | ...}")


class WalletChanged(ServerPayload):
    wallet_id: UUID
    owner_user_id: UUID | None
    tenant_id: UUID | None
    code: str
    currency: str
    balances: dict[str, int] = Field(description="paise (or units) by balance name")
    version: int


class CreditsLow(ServerPayload):
    wallet_id: UUID
    tenant_id: UUID | None
    currency: str
    available: int
    threshold: int


class NotificationPushed(FeedPosition):
    id: UUID
    type: str
    title: str
    body: str
    data: dict[str, Any]
    priority: Literal["low", "normal", "high"]
    created_at: datetime
    read_at: datetime | None
    expires_at: datetime | None


class NotificationsRead(FeedPosition):
    ids: list[UUID]
    all: bool


class LiveStatusChanged(FeedPosition):
    booking_id: UUID
    status: Literal["assigned", "started", "in_progress", "completed"]
    note: str | None
    at: datetime
    by: UUID | None


class StreamChanged(ServerPayload):
    stream_id: UUID
    state: Literal["live", "ended"]
    url: str
    kind: Literal["hls", "youtube", "meet"]


class StreamViewers(ServerPayload):
    stream_id: UUID
    viewers: int


class PanchangPushed(ServerPayload):
    """The panchang of the day that has just begun at the place (README *Panchang*)."""

    date: date
    place: dict[str, Any] = Field(description="{lat, lon, timezone}")
    sunrise: datetime
    sunset: datetime


class OccupancyChanged(ServerPayload):
    library_id: UUID
    occupied: int
    capacity: int
    at: datetime


class WaitlistOffered(FeedPosition):
    entry_id: UUID
    slot_id: UUID
    hold_id: UUID
    qty: int
    expires_at: datetime


class SplitUpdated(FeedPosition):
    """The split of a court hold, as ``GET /api/v1/holds/{hold_id}/split`` answers it."""

    hold_id: UUID


class CourtChanged(FeedPosition):
    court_id: UUID
    slot_id: UUID | None
    status: Literal["free", "booked", "in_play", "maintenance"]
    at: datetime


@dataclass(frozen=True)
class ServerEvent:
    model: type[BaseModel]
    summary: str
    room: str


SERVER_EVENTS: dict[str, ServerEvent] = {
    "availability": ServerEvent(
        AvailabilityDelta, "A committed change of an availability stream", "the stream's room"
    ),
    "availability:resync": ServerEvent(
        AvailabilityResync,
        "Too far behind on a stream: unsubscribed; resubscribe with since",
        "the socket",
    ),
    "feed:resync": ServerEvent(
        FeedResync,
        "Room events from other hubs may have been missed: sync every stream again",
        "every socket",
    ),
    "session:ended": ServerEvent(
        SessionEnded, "The session expired or was revoked; the server disconnects", "the socket"
    ),
    "wallet": ServerEvent(WalletChanged, "A committed change of one of your wallets", "owner"),
    "credits:low": ServerEvent(
        CreditsLow, "A tenant's messaging credits crossed the threshold", "tenant admins"
    ),
    "notification": ServerEvent(NotificationPushed, "A new notification", "user:{user_id}"),
    "notifications:read": ServerEvent(
        NotificationsRead, "Notifications were read on another device", "user:{user_id}"
    ),
    "live:status": ServerEvent(
        LiveStatusChanged,
        "A booking's live status changed",
        "user:{owner} and booking:{booking_id}",
    ),
    "stream": ServerEvent(
        StreamChanged, "A live stream started or ended", "stream:{id}, user: or tenant: rooms"
    ),
    "stream:viewers": ServerEvent(StreamViewers, "Viewer count of a stream", "stream:{id}"),
    "panchang": ServerEvent(PanchangPushed, "Today's panchang at sunrise", "the place's room"),
    "occupancy": ServerEvent(
        OccupancyChanged, "A library's occupancy after a check-in or out", "occupancy:{id}"
    ),
    "waitlist:offer": ServerEvent(
        WaitlistOffered, "Places were offered to you from a waiting list", "user:{user_id}"
    ),
    "split:updated": ServerEvent(SplitUpdated, "A court split changed", "user:{player}"),
    "court": ServerEvent(CourtChanged, "A court's status changed", "venue:{tenant_id}"),
}
