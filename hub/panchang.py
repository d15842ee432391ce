"""The daily panchang: computed offline, cached in PostgreSQL for every hub, pushed at sunrise.

:class:`PanchangService` answers one day at one place: from ``panchang_days`` if any hub has
computed it, otherwise it computes it (``protocols.panchang``, in a worker thread) and stores
it. :class:`SunriseScheduler` keeps the places this hub's sockets subscribed to
(``panchang:subscribe``) in rooms ``panchang:<lat>:<lon>:<timezone>``, and one loop sleeps
until the earliest next sunrise among them, then emits ``panchang`` (that day's panchang) to
the place's room and plans the place's following sunrise. Each hub pushes to its own sockets
only (``ignore_queue``), so a place watched on several hubs is pushed once per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import socketio

from hub.auth import Principal
from hub.background import TRANSIENT, cancel_and_wait
from hub.sockets import SocketGateway
from protocols.errors import LimitExceeded, NotFound
from protocols.panchang import (
    ALGORITHM_VERSION,
    DEFAULT_TIMEZONE,
    SubscribePanchang,
    UnsubscribePanchang,
    next_sunrise,
    panchang_of_day,
    place_room,
    round_place,
    zone_of,
)
from storage import catalog
from storage import panchang as store

log = logging.getLogger(__name__)

PANCHANG_EVENT = "panchang"
MAX_PLACES_PER_CONNECTION = 10
_MAX_SLEEP_SECS = 300.0
_MIN_SLEEP_SECS = 0.05
_RETRY_SECS = 1.0


class PanchangService:
    def __init__(self, *, db: asyncpg.Pool) -> None:
        self._db = db

    async def day(self, day: date, lat: float, lon: float, timezone: str) -> dict[str, Any]:
        """The panchang of the local date ``day`` at the rounded place. ``timezone`` must be a
        known IANA name (the wire models check it)."""
        lat, lon = round_place(lat, lon)
        key = store.DayKey(day, round(lat * 100), round(lon * 100), timezone, ALGORITHM_VERSION)
        async with self._db.acquire() as conn:
            cached = await store.cached_day(conn, key)
        if cached is not None:
            return cached
        # A few milliseconds of ephemeris work: off the event loop all the same.
        data = await asyncio.to_thread(panchang_of_day, day, lat, lon, zone_of(timezone))
        async with self._db.acquire() as conn:
            await store.store_day(conn, key, data)
        return data

    async def timezone_for(self, principal: Principal | None, asked: str | None) -> str:
        """The timezone asked for, else the caller's tenant's, else Asia/Kolkata."""
        if asked is not None:
            return asked
        if principal is not None and principal.tenant_id is not None:
            async with self._db.acquire() as conn:
                name = await catalog.tenant_timezone(conn, tenant_id=principal.tenant_id)
            if name is not None:
                return name
        return DEFAULT_TIMEZONE


@dataclass
class _Place:
    lat: float
    lon: float
    timezone: str
    room: str
    due_at: datetime
    sids: set[str] = field(default_factory=set)


class SunriseScheduler:
    """Pushes each subscribed place's panchang at its local sunrise (one loop per hub)."""

    def __init__(self, *, sio: socketio.AsyncServer, panchang: PanchangService) -> None:
        self._sio = sio
        self._panchang = panchang
        self._places: dict[str, _Place] = {}
        self._rooms_of: defaultdict[str, set[str]] = defaultdict(set)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="panchang-sunrise")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    def register(self, gateway: SocketGateway) -> None:
        """``panchang:subscribe {lat, lon, timezone?}`` and ``panchang:unsubscribe {room}``."""
        gateway.handle("panchang:subscribe", SubscribePanchang, self.subscribe)
        gateway.handle("panchang:unsubscribe", UnsubscribePanchang, self._unsubscribe)
        gateway.on_disconnect(self.disconnected)

    async def _unsubscribe(
        self, sid: str, principal: Principal, request: UnsubscribePanchang
    ) -> dict[str, Any]:
        return await self.unsubscribe(sid, request.room)

    # -- subscriptions -------------------------------------------------------------------------

    async def subscribe(
        self, sid: str, principal: Principal, request: SubscribePanchang
    ) -> dict[str, Any]:
        """Join the place's room; ack with today's panchang there and the next push time.
        Subscribing again to the same place is free; more than
        :data:`MAX_PLACES_PER_CONNECTION` places is LimitExceeded."""
        timezone = await self._panchang.timezone_for(principal, request.timezone)
        lat, lon = round_place(request.lat, request.lon)
        room = place_room(lat, lon, timezone)
        rooms = self._rooms_of[sid]
        if room not in rooms and len(rooms) >= MAX_PLACES_PER_CONNECTION:
            raise LimitExceeded(
                "too many panchang places on this connection",
                {"limit": "panchang_places_per_connection", "max": MAX_PLACES_PER_CONNECTION},
            )
        now = datetime.now(UTC)
        zone = zone_of(timezone)
        today = await self._panchang.day(now.astimezone(zone).date(), lat, lon, timezone)
        await self._sio.enter_room(sid, room)
        place = self._places.get(room)
        if place is None:
            due = await asyncio.to_thread(next_sunrise, lat, lon, now)
            # (Another subscribe may have made it while we computed.)
            place = self._places.setdefault(room, _Place(lat, lon, timezone, room, due))
        # No await from here on: the place cannot be dropped before the socket is counted.
        place.sids.add(sid)
        rooms.add(room)
        if not self._sio.manager.is_connected(sid, "/"):
            self._forget(sid, room)  # it went away while we computed
        self._wake.set()
        return {
            "room": room,
            "place": {"lat": lat, "lon": lon, "timezone": timezone},
            "next_push_at": place.due_at.astimezone(zone).isoformat(),
            "panchang": today,
        }

    async def unsubscribe(self, sid: str, room: str) -> dict[str, Any]:
        """NotFound unless this socket is subscribed to ``room``."""
        if room not in self._rooms_of.get(sid, ()):
            raise NotFound("not subscribed to this place", {"room": room})
        await self._sio.leave_room(sid, room)
        self._forget(sid, room)
        return {"room": room}

    def disconnected(self, sid: str) -> None:
        for room in list(self._rooms_of.get(sid, ())):
            self._forget(sid, room)

    def _forget(self, sid: str, room: str) -> None:
        rooms = self._rooms_of.get(sid)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[sid]
        place = self._places.get(room)
        if place is not None:
            place.sids.discard(sid)
            if not place.sids:
                del self._places[room]

    def next_push_at(self, room: str) -> datetime | None:
        """When the place of ``room`` is pushed next (its next sunrise), or None if no socket
        of this hub watches it."""
        place = self._places.get(room)
        return place.due_at if place is not None else None

    # -- pushing -------------------------------------------------------------------------------

    async def push_due(self, now: datetime) -> list[str]:
        """Push every place whose sunrise is at or before ``now`` and plan its next sunrise
        (the first after both that sunrise and ``now``: a hub that slept through sunrises
        pushes once, not once per missed day). Returns the rooms pushed. The loop calls this
        with the clock's time; it is safe to call concurrently."""
        pushed: list[str] = []
        async with self._lock:
            for place in [p for p in self._places.values() if p.due_at <= now]:
                sunrise = place.due_at
                zone = zone_of(place.timezone)
                data = await self._panchang.day(
                    sunrise.astimezone(zone).date(), place.lat, place.lon, place.timezone
                )
                await self._sio.emit(PANCHANG_EVENT, data, room=place.room, ignore_queue=True)
                after = max(sunrise, now) + timedelta(minutes=1)
                place.due_at = await asyncio.to_thread(next_sunrise, place.lat, place.lon, after)
                pushed.append(place.room)
        return pushed

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            floor = _MIN_SLEEP_SECS
            try:
                await self.push_due(datetime.now(UTC))
            except TRANSIENT as exc:
                log.warning("panchang push failed, retrying: %r", exc)
                floor = _RETRY_SECS
            wait = _MAX_SLEEP_SECS
            if self._places:
                earliest = min(p.due_at for p in self._places.values())
                wait = (earliest - datetime.now(UTC)).total_seconds()
            wait = min(max(wait, floor), _MAX_SLEEP_SECS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
