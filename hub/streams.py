"""Live video streams: start/stop by staff, join/leave by viewers, coalesced viewer counts.

State changes (``stream`` events) go through the feed outbox, so they are published after
commit and survive a crash. Viewer counts do not need that: each hub counts its own viewers,
reports them to PostgreSQL at most once per tick, and tells its own viewers the total over all
hubs (``stream:viewers``), at most once per tick and only when it changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from typing import Any
from uuid import UUID

import asyncpg
import socketio

from hub.auth import Principal
from hub.background import cancel_and_wait, run_every
from hub.booking_access import check_booking_staff
from hub.sockets import tenant_room
from protocols.errors import Forbidden, NotFound
from protocols.live import STREAM_EVENT, VIEWERS_EVENT, StartStream
from protocols.permissions import Role
from storage import availability, feeds, live_status, notifications, streaming
from storage.streaming import StreamSession
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)


def stream_room(stream_id: UUID) -> str:
    return f"stream:{stream_id}"


class StreamService:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        sio: socketio.AsyncServer,
        tick_secs: float = 1.0,
        refresh_secs: float = 5.0,
    ) -> None:
        self._db = db
        self._sio = sio
        self._tick = tick_secs
        self._refresh = refresh_secs
        self.hub_id = uuid.uuid4()
        self._viewers: defaultdict[UUID, set[str]] = defaultdict(set)
        self._by_sid: defaultdict[str, set[UUID]] = defaultdict(set)
        self._dirty: set[UUID] = set()
        self._told: dict[UUID, int] = {}
        self._last_report = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            run_every(self._tick, self.report, "reporting stream viewers"), name="viewers"
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- staff ---------------------------------------------------------------------------------

    async def start_stream(self, principal: Principal, request: StartStream) -> dict[str, Any]:
        """Start (or, retried, return) the live session of a booking or a resource."""
        async with self._db.acquire() as conn:
            if request.booking_id is not None:
                tenant_id = await availability.tenant_of_hold(conn, hold_id=request.booking_id)
            else:
                assert request.resource_id is not None
                tenant_id = await streaming.tenant_of_resource(
                    conn, resource_id=request.resource_id
                )
        target = str(request.booking_id or request.resource_id)
        if tenant_id is None or not principal.is_staff_of(tenant_id):
            raise NotFound("no such booking or resource", {"target": target})
        async with tenant_scope(self._db, tenant_id) as conn:
            devotees: tuple[UUID, ...] = ()
            if request.booking_id is not None:
                booking = await live_status.load(
                    conn, tenant_id=tenant_id, booking_id=request.booking_id
                )
                if booking is None:
                    raise NotFound("no such booking", {"booking_id": target})
                await check_booking_staff(conn, principal, booking, action="stream it")
                devotees = booking.devotees
            session, created = await streaming.start(
                conn,
                tenant_id=tenant_id,
                booking_id=request.booking_id,
                resource_id=request.resource_id,
                url=request.url,
                kind=request.kind,
                started_by=principal.user_id,
            )
            if created:
                await self._announce(conn, session, devotees, notify=True)
        return {**session.wire(), "created": created}

    async def stop_stream(self, principal: Principal, stream_id: UUID) -> dict[str, Any]:
        session = await self._session_for(principal, stream_id)
        if not principal.is_staff_of(session.tenant_id):
            raise NotFound("no such stream", {"stream_id": str(stream_id)})
        if (
            principal.role not in (Role.TENANT_ADMIN, Role.PLATFORM_ADMIN)
            and session.started_by != principal.user_id
        ):
            raise Forbidden("only who started a stream, or a tenant admin, may stop it")
        async with tenant_scope(self._db, session.tenant_id) as conn:
            ended, changed = await streaming.stop(conn, stream_id=stream_id)
            if changed:
                devotees: tuple[UUID, ...] = ()
                if ended.booking_id is not None:
                    booking = await live_status.load(
                        conn, tenant_id=ended.tenant_id, booking_id=ended.booking_id
                    )
                    devotees = booking.devotees if booking else ()
                await self._announce(conn, ended, devotees, notify=False)
        return ended.wire()

    async def _announce(
        self,
        conn: asyncpg.Connection,
        session: StreamSession,
        devotees: tuple[UUID, ...],
        *,
        notify: bool,
    ) -> None:
        """``stream`` to its viewers, and to whoever may watch it: the booking's devotees
        (their own feeds, plus a ``stream_started`` notification) or the whole tenant."""
        payload = {"stream_id": str(session.id), "state": session.state, "url": session.url}
        payload["kind"] = session.kind
        own = stream_room(session.id)
        rooms = [(own, own)]
        if session.booking_id is None:
            rooms.append((tenant_room(session.tenant_id), tenant_room(session.tenant_id)))
        rooms += [(feeds.user_stream(u), feeds.user_stream(u)) for u in devotees]
        for stream, room in rooms:
            await feeds.append(
                conn,
                stream=stream,
                tenant_id=session.tenant_id,
                room=room,
                event=STREAM_EVENT,
                payload=payload,
            )
        if notify:
            for user_id in devotees:
                await notifications.enqueue(
                    conn,
                    tenant_id=session.tenant_id,
                    user_id=user_id,
                    kind="stream_started",
                    data={"stream_id": str(session.id), "url": session.url},
                    dedupe_key=f"stream_started:{session.id}:{user_id}",
                )

    async def _session_for(self, principal: Principal, stream_id: UUID) -> StreamSession:
        async with self._db.acquire() as conn:
            session = await streaming.get(conn, stream_id=stream_id)
        if session is None or not principal.may_act_in(session.tenant_id):
            raise NotFound("no such stream", {"stream_id": str(stream_id)})
        return session

    async def describe(self, principal: Principal, stream_id: UUID) -> dict[str, Any]:
        return (await self._session_for(principal, stream_id)).wire()

    # -- viewers -------------------------------------------------------------------------------

    async def join(self, sid: str, principal: Principal, stream_id: UUID) -> dict[str, Any]:
        session = await self._session_for(principal, stream_id)
        if session.booking_id is not None and not principal.is_staff_of(session.tenant_id):
            async with self._db.acquire() as conn:
                booking = await live_status.load(
                    conn, tenant_id=session.tenant_id, booking_id=session.booking_id
                )
            if booking is None or principal.user_id not in booking.devotees:
                raise NotFound("no such stream", {"stream_id": str(stream_id)})
        view = {"stream_id": str(session.id), "state": session.state, "url": session.url}
        if session.state != "live":
            return {**view, "kind": session.kind, "viewers": 0, "joined": False}
        if sid not in self._viewers[stream_id]:
            await self._sio.enter_room(sid, stream_room(stream_id))
            self._viewers[stream_id].add(sid)
            self._by_sid[sid].add(stream_id)
            self._dirty.add(stream_id)
        await self._sio.emit(STREAM_EVENT, view, to=sid, ignore_queue=True)
        viewers = self._told.get(stream_id, len(self._viewers[stream_id]))
        return {**view, "kind": session.kind, "viewers": viewers, "joined": True}

    async def leave(self, sid: str, stream_id: UUID) -> dict[str, Any]:
        if stream_id not in self._by_sid.get(sid, ()):
            raise NotFound("not watching this stream", {"stream_id": str(stream_id)})
        await self._sio.leave_room(sid, stream_room(stream_id))
        self._drop(sid, stream_id)
        return {"stream_id": str(stream_id)}

    def disconnected(self, sid: str) -> None:
        for stream_id in list(self._by_sid.pop(sid, ())):
            self._drop(sid, stream_id)

    def _drop(self, sid: str, stream_id: UUID) -> None:
        self._by_sid[sid].discard(stream_id)
        if not self._by_sid[sid]:
            self._by_sid.pop(sid, None)
        self._viewers[stream_id].discard(sid)
        self._dirty.add(stream_id)

    async def report(self) -> None:
        """One tick: report this hub's counts, tell local viewers of totals that changed."""
        now = time.monotonic()
        due = now - self._last_report >= self._refresh
        if not self._dirty and not due:
            return
        watched = set(self._dirty) | ({s for s, v in self._viewers.items() if v} if due else set())
        self._dirty.clear()
        self._last_report = now if due else self._last_report
        counts = {s: len(self._viewers.get(s, ())) for s in watched}
        async with self._db.acquire() as conn:
            totals = await streaming.report_viewers(
                conn, hub_id=self.hub_id, counts=counts, fresh_secs=3 * self._refresh
            )
        for stream_id, local in counts.items():
            if local == 0:
                self._viewers.pop(stream_id, None)
                self._told.pop(stream_id, None)
                continue
            total = totals.get(stream_id, local)
            if self._told.get(stream_id) != total:
                self._told[stream_id] = total
                await self._sio.emit(
                    VIEWERS_EVENT,
                    {"stream_id": str(stream_id), "viewers": total},
                    room=stream_room(stream_id),
                    ignore_queue=True,
                )
