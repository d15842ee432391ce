"""Meeting rooms for consultations: the link a client and their astrologer meet on.

:class:`MeetingProvider` makes one room for one booking. The default, :class:`JitsiRooms`,
needs no account or API call: a Jitsi Meet room exists as soon as someone opens its URL, so
the room's name is its only secret. It is 128 random bits (``secrets``), unguessable and
unique, under a configurable base URL (a tenant's own Jitsi server, or ``meet.jit.si``).
Providers are called inside the database transaction that confirms a booking, so
``create_room`` must not do I/O; a provider that has to call an API would create rooms
outside the transaction instead (none does yet).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pydantic import Field

from protocols.wire import WireModel

DEFAULT_MEETING_BASE_URL = "https://meet.jit.si"
ROOM_PREFIX = "seva-"
_BASE_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~-]+)*$")


@dataclass(frozen=True)
class MeetingBooking:
    """What a provider may know about the booking it makes a room for."""

    booking_id: UUID
    tenant_id: UUID
    resource_id: UUID


@dataclass(frozen=True)
class MeetingLink:
    url: str
    provider: str
    room_id: str


class MeetingProvider(Protocol):
    name: str

    def create_room(self, booking: MeetingBooking) -> MeetingLink:
        """A new room for ``booking``: every call answers a different room (the caller keeps
        the first one it stored)."""
        ...


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash; ValueError unless it is an ``https`` URL with a host
    and an optional plain path (no query, no fragment)."""
    url = url.rstrip("/")
    if not _BASE_URL.match(url):
        raise ValueError("meeting_base_url must be https://host[/path] without query")
    return url


class JitsiRooms:
    """Rooms ``<base_url>/seva-<32 hex digits>`` on a Jitsi Meet server."""

    name = "jitsi"

    def __init__(self, base_url: str = DEFAULT_MEETING_BASE_URL) -> None:
        self._base_url = check_base_url(base_url)

    def create_room(self, booking: MeetingBooking) -> MeetingLink:
        room_id = ROOM_PREFIX + secrets.token_hex(16)
        return MeetingLink(url=f"{self._base_url}/{room_id}", provider=self.name, room_id=room_id)


def provider_for(base_url: str | None) -> MeetingProvider:
    """The provider of a tenant's settings (``None``: the default base URL)."""
    return JitsiRooms(base_url or DEFAULT_MEETING_BASE_URL)


# -- answers ---------------------------------------------------------------------------------


class MeetingView(WireModel):
    """``GET /api/v1/bookings/{booking_id}/meeting``: the consultation's video room."""

    booking_id: UUID
    provider: str = Field(description="the meeting provider, e.g. jitsi")
    room_id: str
    url: str
    created_at: datetime
