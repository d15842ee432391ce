"""Availability deltas to every local socket of a room: encoded once, bounded per connection.

python-socketio's ``emit`` to a room does per-recipient Python work: a task per socket, a ping
check, a queue hand-off, a wake-up of that socket's writer task and a WebSocket frame built by
aiohttp. :class:`DeltaBroadcaster` builds the Socket.IO/Engine.IO text packet **once** per delta,
and the WebSocket frame once, then for each local participant of the room:

- **WebSocket, idle writer** (its Engine.IO send queue is empty, its writer task is parked
  waiting on that queue, and the socket's write buffer is small): the ready-made frame is
  written to the connection's transport. Everything queued earlier has been written already
  (the writer only parks after its last send returned), so per-connection order holds.
- **anything else** (long-polling, an upgrade in progress, a writer that is busy or waiting for
  the network): the same pre-encoded Engine.IO packet object is put on the socket's queue, so it
  goes out after everything queued before it, exactly as ``emit`` would send it.

It delivers to **local** sockets only, never through a client manager's message queue: every
hub LISTENs to PostgreSQL and delivers each change itself (the same as ``emit(...,
ignore_queue=True)``), so it is correct with or without a Redis manager. A server whose packet
class does not encode to text (msgpack) falls back to ``emit(..., ignore_queue=True)``.

**Slow consumers.** A connection is *behind* when ``send_queue_max`` packets wait in its
Engine.IO queue (a WebSocket whose client stops reading fills the kernel buffers, then the
transport's, then the writer waits and the queue grows; a long-polling client that stops polling
grows the queue at once). A delta for a stream on which a connection is behind is not queued:
it is folded into one pending delta per (connection, stream) holding the latest ``available``
of every slot it touched, ``seq`` = the latest, ``from_seq`` = the first folded, and
``coalesced: true`` (deltas carry absolute values, so applying it equals applying them all).
Once the connection's queue is down to half the bound, the pending delta is sent. If it is
still behind ``behind_resync_secs`` after it fell behind, the pending delta is dropped, the
connection is sent ``availability:resync {stream, seq, reason: "slow_consumer"}`` (after what
is already queued), and ``on_resync(sid, stream)`` unsubscribes it; the client resubscribes with
``since``. Memory per slow connection is therefore bounded by the queue bound plus one pending
delta per stream (at most one entry per slot).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

from hub.background import cancel_and_wait

log = logging.getLogger(__name__)

AVAILABILITY_EVENT = "availability"
RESYNC_EVENT = "availability:resync"
RESYNC_REASON_SLOW = "slow_consumer"
NAMESPACE = "/"
# Direct writes stop once this much waits in the connection's transport buffer; from there on
# deltas queue behind it and aiohttp's writer applies back-pressure (asyncio's high-water mark).
DIRECT_WRITE_MAX_BUFFER_BYTES = 64 * 1024
FLUSH_EVERY_SECS = 0.05


def websocket_text_frame(payload: bytes) -> bytes:
    """One unmasked, final server-to-client text frame (RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


@dataclass(frozen=True)
class _Wire:
    """The aiohttp WebSocket behind one Engine.IO socket."""

    response: web.WebSocketResponse
    transport: asyncio.Transport


@dataclass(frozen=True)
class _Encoded:
    packet: eio_packet.Packet  # shared by every queue it is put on; its encoding is cached
    frame: bytes


@dataclass
class _Behind:
    """Deltas of one stream withheld from one connection that is behind."""

    eio_sid: str
    since: float  # monotonic time it fell behind
    from_seq: int
    seq: int
    slots: dict[str, Any] = field(default_factory=dict)  # slot_id → latest available
    resyncing: bool = False

    def fold(self, payload: dict[str, Any]) -> None:
        for slot in payload.get("slots", ()):
            self.slots[slot["slot_id"]] = slot["available"]
        self.seq = max(self.seq, int(payload["seq"]))

    def coalesced(self, stream: str) -> dict[str, Any]:
        return {
            "stream": stream,
            "seq": self.seq,
            "from_seq": self.from_seq,
            "coalesced": True,
            "slots": [{"slot_id": s, "available": a} for s, a in self.slots.items()],
        }


def _writer_parked(queue: asyncio.Queue[Any]) -> bool:
    """True if a consumer is blocked in ``queue.get()`` (not merely woken up)."""
    getters = getattr(queue, "_getters", ())
    return any(not getter.done() for getter in getters)


class DeltaBroadcaster:
    """Sends availability deltas to a room's local sockets (see the module docstring)."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        *,
        send_queue_max: int,
        behind_resync_secs: float,
        on_resync: Callable[[str, str], Awaitable[object]],
    ) -> None:
        self._sio = sio
        self._send_queue_max = send_queue_max
        self._resume_at = send_queue_max // 2
        self._behind_resync_secs = behind_resync_secs
        self._on_resync = on_resync
        self._wires: weakref.WeakKeyDictionary[Any, _Wire] = weakref.WeakKeyDictionary()
        self._behind: dict[str, dict[str, _Behind]] = {}  # stream → sid → withheld deltas
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._text_packets = sio.packet_class is sio_packet.Packet
        self.direct_writes = 0
        self.queued = 0
        self.coalesced_sent = 0
        self.resyncs_sent = 0
        if sio.eio.async_mode == "aiohttp":
            self._track_websockets()

    @property
    def send_queue_max(self) -> int:
        return self._send_queue_max

    @property
    def behind_resync_secs(self) -> float:
        return self._behind_resync_secs

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="broadcast")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    # -- sending -------------------------------------------------------------------------------

    async def send_delta(self, event: str, stream: str, payload: dict[str, Any]) -> None:
        """Deliver ``payload`` (an ``availability`` delta of ``stream``) as ``event`` to every
        local socket in the room ``stream``, in order with everything else sent to each one."""
        encoded = self._encode(event, payload)
        if encoded is None:
            await self._sio.emit(event, payload, room=stream, ignore_queue=True)
            return
        on_emit = getattr(self._sio, "on_emit", None)  # hub.socket_server.SevaSocketServer
        if on_emit is not None:
            on_emit(event)  # written to the sockets below, not through emit
        behind = self._behind.get(stream)
        sockets = self._sio.eio.sockets
        limit = self._send_queue_max
        for sid, eio_sid in self._sio.manager.get_participants(NAMESPACE, stream):
            if behind is not None:
                withheld = behind.get(sid)
                if withheld is not None:
                    if not withheld.resyncing:
                        withheld.fold(payload)
                    continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closing or sock.closed:
                continue
            if sock.queue.qsize() >= limit:
                if behind is None:
                    behind = self._behind.setdefault(stream, {})
                withheld = _Behind(
                    eio_sid=eio_sid,
                    since=time.monotonic(),
                    from_seq=int(payload["seq"]),
                    seq=int(payload["seq"]),
                )
                withheld.fold(payload)
                behind[sid] = withheld
                self._wake.set()
                continue
            self._send(sock, encoded)

    def _encode(self, event: str, payload: dict[str, Any]) -> _Encoded | None:
        if not self._text_packets:
            return None
        text = self._sio.packet_class(
            sio_packet.EVENT, namespace=NAMESPACE, data=[event, payload]
        ).encode()
        if not isinstance(text, str):  # binary attachments: several packets
            return None
        pkt = eio_packet.Packet(eio_packet.MESSAGE, data=text)
        return _Encoded(packet=pkt, frame=websocket_text_frame(pkt.encode().encode()))

    def _send(self, sock: Any, encoded: _Encoded) -> None:
        queue = sock.queue
        wire = self._wires.get(sock)
        if (
            wire is not None
            and sock.upgraded
            and not sock.upgrading
            and queue.qsize() == 0
            and _writer_parked(queue)
            and not wire.response.closed
            and not wire.transport.is_closing()
            and wire.transport.get_write_buffer_size() < DIRECT_WRITE_MAX_BUFFER_BYTES
        ):
            wire.transport.write(encoded.frame)
            self.direct_writes += 1
        else:
            queue.put_nowait(encoded.packet)
            self.queued += 1

    # -- slow consumers ------------------------------------------------------------------------

    def withheld(self) -> int:
        """(Connection, stream) pairs with deltas withheld right now (for tests and metrics)."""
        return sum(len(pending) for pending in self._behind.values())

    async def _flush_loop(self) -> None:
        while True:
            if not self._behind:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(FLUSH_EVERY_SECS)
            await self.flush()

    async def flush(self) -> None:
        """Send pending coalesced deltas to connections that caught up; tell those that stayed
        behind too long to resync."""
        now = time.monotonic()
        rooms = self._sio.manager.rooms.get(NAMESPACE, {})
        sockets = self._sio.eio.sockets
        doomed: list[tuple[str, str]] = []
        for stream, pending in list(self._behind.items()):
            members = rooms.get(stream, {})
            for sid, withheld in list(pending.items()):
                if withheld.resyncing:
                    continue
                sock = sockets.get(withheld.eio_sid)
                if sock is None or sock.closing or sock.closed or sid not in members:
                    del pending[sid]
                elif sock.queue.qsize() <= self._resume_at:
                    del pending[sid]
                    encoded = self._encode(AVAILABILITY_EVENT, withheld.coalesced(stream))
                    if encoded is not None:
                        self._send(sock, encoded)
                        self.coalesced_sent += 1
                elif now - withheld.since >= self._behind_resync_secs:
                    withheld.resyncing = True
                    resync = {"stream": stream, "seq": withheld.seq, "reason": RESYNC_REASON_SLOW}
                    encoded = self._encode(RESYNC_EVENT, resync)
                    if encoded is not None:
                        sock.queue.put_nowait(encoded.packet)
                        self.resyncs_sent += 1
                    doomed.append((stream, sid))
            if not pending:
                del self._behind[stream]
        for stream, sid in doomed:
            try:
                await self._on_resync(sid, stream)
            except Exception:
                log.exception("could not unsubscribe %s from %s after a resync", sid, stream)
            finally:
                left = self._behind.get(stream)
                if left is not None:
                    left.pop(sid, None)
                    if not left:
                        del self._behind[stream]

    # -- which WebSocket belongs to which Engine.IO socket ---------------------------------------

    def _track_websockets(self) -> None:
        """Swap this server's aiohttp WebSocket driver for one that records each socket's
        aiohttp response and transport while its WebSocket handler runs (this server only:
        engineio's driver table is module-wide, so it is copied, not changed)."""
        wires = self._wires
        base: type[eio_aiohttp.WebSocket] = self._sio.eio._async["websocket"]

        class TrackedWebSocket(base):  # type: ignore[misc, valid-type]
            def __init__(self, handler: Any, server: Any) -> None:
                sock = getattr(handler, "__self__", None)

                async def tracked(ws: Any) -> None:
                    transport = ws.environ["aiohttp.request"].transport
                    if sock is not None and transport is not None:
                        wires[sock] = _Wire(response=ws._sock, transport=transport)
                    try:
                        await handler(ws)
                    finally:
                        if sock is not None:
                            wires.pop(sock, None)

                super().__init__(tracked, server)

        self._sio.eio._async = {**self._sio.eio._async, "websocket": TrackedWebSocket}
