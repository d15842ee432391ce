"""Live availability: committed changes → Socket.IO rooms, in seq order, with no gaps.

Shards announce every committed change with NOTIFY (see ``storage.inventory``). Each hub process
LISTENs and keeps, for every stream that has subscribers here, a view (slots and last ``seq``).
A change is emitted to the stream's room only if it is the next ``seq``; a gap (a lost
notification, a reconnect) is filled from the ``availability_events`` table first; anything at
or below the view's ``seq`` is a duplicate and dropped. Subscribing takes the same per-stream
lock, so a new subscriber's snapshot and the deltas it then receives join up exactly: deltas
carry ``seq`` = snapshot ``seq`` + 1, + 2, ... (a delta may arrive before the ack; clients
buffer it).

Because every hub listens to the database itself, fan-out across hub processes needs no Redis.
Deltas go out through :class:`hub.broadcast.DeltaBroadcaster`: encoded once per change, to
local sockets only, with slow consumers coalesced and then told to resync.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import socketio

from hub.auth import Principal
from hub.background import cancel_and_wait
from hub.broadcast import AVAILABILITY_EVENT, DeltaBroadcaster
from hub.settings import Settings
from protocols.availability import (
    AvailabilitySnapshot,
    SlotAvailability,
    SubscribeAvailability,
    stream_name,
)
from protocols.errors import NotFound
from storage import availability as reads
from storage.inventory import AVAILABILITY_CHANNEL
from storage.listener import Listener
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

DEFAULT_SEND_QUEUE_MAX: int = Settings.model_fields["socket_send_queue_max"].default
DEFAULT_BEHIND_RESYNC_SECS: float = Settings.model_fields["socket_behind_resync_secs"].default


@dataclass
class StreamView:
    stream: str
    seq: int
    slots: dict[str, dict[str, Any]]  # slot_id → SlotAvailability as JSON, in start order
    subscribers: set[str] = field(default_factory=set)

    def apply(self, payload: dict[str, Any]) -> None:
        for delta in payload["slots"]:
            slot = self.slots.get(delta["slot_id"])
            if slot is not None:
                slot["available"] = delta["available"]
        self.seq = payload["seq"]

    def snapshot(self, *, mode: str = "snapshot", replayed: int = 0) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "seq": self.seq,
            "slots": [dict(s) for s in self.slots.values()],
            "mode": mode,
            "replayed": replayed,
        }


async def load_snapshot(
    db: asyncpg.Pool, principal: Principal, tenant_id: UUID, resource_id: UUID, day: Any
) -> AvailabilitySnapshot:
    """A consistent snapshot from the database (the REST route and a stream's first view)."""
    if not principal.may_act_in(tenant_id):
        raise NotFound("no such resource", {"resource_id": str(resource_id)})
    async with tenant_scope(db, tenant_id, readonly=True, isolation="repeatable_read") as conn:
        snap = await reads.read_snapshot(
            conn, tenant_id=tenant_id, resource_id=resource_id, day=day
        )
    if snap is None:
        raise NotFound("no such resource", {"resource_id": str(resource_id)})
    return AvailabilitySnapshot(
        stream=snap.stream,
        seq=snap.seq,
        slots=[
            SlotAvailability(
                slot_id=s.slot_id,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                capacity=s.capacity,
                available=s.available,
                price_paise=s.price_paise,
            )
            for s in snap.slots
        ],
    )


class AvailabilityFanout:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        dsn: str,
        sio: socketio.AsyncServer,
        send_queue_max: int = DEFAULT_SEND_QUEUE_MAX,
        behind_resync_secs: float = DEFAULT_BEHIND_RESYNC_SECS,
    ) -> None:
        """``send_queue_max`` and ``behind_resync_secs`` bound slow consumers (see
        :mod:`hub.broadcast`; settings ``socket_send_queue_max``, ``socket_behind_resync_secs``)."""
        self._db = db
        self._sio = sio
        self._broadcast = DeltaBroadcaster(
            sio,
            send_queue_max=send_queue_max,
            behind_resync_secs=behind_resync_secs,
            on_resync=self.unsubscribe,
        )
        self._views: dict[str, StreamView] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._by_sid: defaultdict[str, set[str]] = defaultdict(set)
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._listener = Listener(dsn, AVAILABILITY_CHANNEL, self._inbox.put_nowait, self._resync)
        self._task: asyncio.Task[None] | None = None
        self.emitted = 0

    @property
    def broadcaster(self) -> DeltaBroadcaster:
        return self._broadcast

    async def start(self) -> None:
        await self._broadcast.start()
        await self._listener.start()
        self._task = asyncio.get_running_loop().create_task(self._consume(), name="fanout")

    async def stop(self) -> None:
        await self._listener.stop()
        await cancel_and_wait(self._task)
        await self._broadcast.stop()

    async def subscribe(
        self, sid: str, principal: Principal, request: SubscribeAvailability
    ) -> dict[str, Any]:
        """Join the stream's room; with ``since``, first send the missed deltas to ``sid``."""
        stream = stream_name(request.tenant_id, request.resource_id, request.day)
        async with self._locks[stream]:
            view = self._views.get(stream)
            if view is None:
                snap = await load_snapshot(
                    self._db, principal, request.tenant_id, request.resource_id, request.day
                )
                view = StreamView(
                    stream=stream,
                    seq=snap.seq,
                    slots={str(s.slot_id): s.model_dump(mode="json") for s in snap.slots},
                )
                self._views[stream] = view
            elif not principal.may_act_in(request.tenant_id):
                raise NotFound("no such resource", {"resource_id": str(request.resource_id)})
            # No since: a first subscription. A since we can no longer replay (pruned after
            # the retention, or never a seq of this stream): "reset", the snapshot replaces
            # whatever the client had.
            mode, replayed = ("snapshot" if request.since is None else "reset"), 0
            if request.since is not None and request.since < view.seq:
                async with self._db.acquire() as conn:
                    missed = await reads.read_events(
                        conn, stream=stream, after_seq=request.since, upto_seq=view.seq
                    )
                if missed is not None:
                    for payload in missed:
                        await self._sio.emit(AVAILABILITY_EVENT, payload, to=sid, ignore_queue=True)
                    mode, replayed = "replay", len(missed)
            elif request.since is not None and request.since == view.seq:
                mode = "replay"
            await self._sio.enter_room(sid, stream)
            view.subscribers.add(sid)
            self._by_sid[sid].add(stream)
            return view.snapshot(mode=mode, replayed=replayed)

    async def unsubscribe(self, sid: str, stream: str) -> bool:
        """Leave a stream; False if ``sid`` was not subscribed to it."""
        if stream not in self._by_sid.get(sid, set()):
            return False
        async with self._locks[stream]:
            await self._sio.leave_room(sid, stream)
            self._drop(sid, stream)
        return True

    def disconnected(self, sid: str) -> None:
        for stream in list(self._by_sid.get(sid, ())):
            self._drop(sid, stream)
        self._by_sid.pop(sid, None)

    def _drop(self, sid: str, stream: str) -> None:
        self._by_sid[sid].discard(stream)
        view = self._views.get(stream)
        if view is not None:
            view.subscribers.discard(sid)
            if not view.subscribers:
                # Nobody here watches it any more: stop tracking until someone subscribes again.
                del self._views[stream]
                self._locks.pop(stream, None)

    async def _consume(self) -> None:
        while True:
            raw = await self._inbox.get()
            if raw is None:
                continue
            try:
                payload = json.loads(raw)
                stream = payload["stream"]
            except (ValueError, KeyError, TypeError):
                log.error("ignoring malformed availability notification")
                continue
            if stream not in self._views and stream not in self._locks:
                # Nobody watches it here (a first subscriber still loading holds its lock, so
                # this change is delivered, or skipped, once the snapshot is in place).
                continue
            try:
                async with self._locks[stream]:
                    await self._deliver(stream, payload)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Could not fill a gap now; the next change or a resync will.
                log.warning("availability gap fill failed for %s: %r", stream, exc)

    async def _deliver(self, stream: str, payload: dict[str, Any]) -> None:
        view = self._views.get(stream)
        if view is None or payload["seq"] <= view.seq:
            return
        if payload["seq"] > view.seq + 1:
            async with self._db.acquire() as conn:
                missed = await reads.read_events(
                    conn, stream=stream, after_seq=view.seq, upto_seq=payload["seq"] - 1
                )
            for earlier in missed or []:
                await self._emit(view, earlier)
        await self._emit(view, payload)

    async def _emit(self, view: StreamView, payload: dict[str, Any]) -> None:
        if payload["seq"] <= view.seq:
            return
        view.apply(payload)
        self.emitted += 1
        # Encoded once, written to this hub's subscribers only (never through a client
        # manager's queue: every hub LISTENs and delivers each change itself).
        await self._broadcast.send_delta(AVAILABILITY_EVENT, view.stream, payload)

    async def _resync(self) -> None:
        """After the LISTEN connection came back: catch up every watched stream."""
        for stream in list(self._views):
            async with self._db.acquire() as conn:
                last = await reads.last_seq(conn, stream=stream)
            async with self._locks[stream]:
                view = self._views.get(stream)
                if view is not None and last > view.seq:
                    async with self._db.acquire() as conn:
                        missed = await reads.read_events(
                            conn, stream=stream, after_seq=view.seq, upto_seq=last
                        )
                    for payload in missed or []:
                        await self._emit(view, payload)
