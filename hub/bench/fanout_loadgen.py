"""The fan-out bench's load generator: thousands of raw Socket.IO clients in one process.

``python -m hub.bench.fanout_loadgen`` reads one JSON spec as the first line of stdin::

    {"url": "http://127.0.0.1:PORT", "tokens": ["<JWT>", ...],
     "subscribe": {"tenant_id": ..., "resource_id": ..., "date": "YYYY-MM-DD"},
     "connect_chunk": 200, "timeout_secs": 30}

Each token becomes one client speaking Engine.IO v4 / Socket.IO v5 directly over a WebSocket
(an ``asyncio.Protocol`` per connection: no task, no Socket.IO library per client, so that
5,000 of them cost the load generator little): ``GET /socket.io/?EIO=4&transport=websocket``
with an upgrade, ``40{"token": ...}`` to connect to namespace ``/``, then
``420["availability:subscribe", {...}]`` and its ack ``430[{"ok": true, ...}]``. Engine.IO pings
(``2``) are answered (``3``). The clients offer no permessage-deflate.

Protocol with the parent (one JSON object per line on stdout):

- ``{"event": "ready", "connected", "subscribed", "connect_s", "errors"}`` once every client has
  connected and subscribed (or failed);
- ``{"event": "delivered", "seq": S}`` as soon as every subscribed client has received the
  ``availability`` delta with ``seq`` S (the parent sends the next one only then);
- after the parent writes ``finish`` to stdin: the summary (:func:`summarise`), last.

Every delta carries ``sent_at`` (the sender's ``time.time()``, same machine clock); a delta's
latency for one client is its receive time minus ``sent_at``. Receive times are taken once per
read from the socket, before parsing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
DELTA_PREFIX = b'42["availability",'
RESYNC_PREFIX = b'42["availability:resync",'
SUBSCRIBE_ACK_PREFIX = b"430"


def raise_fd_limit(wanted: int) -> int:
    """Lift this process's soft limit on open files towards ``wanted`` (at most the hard
    limit); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def client_frame(text: str, opcode: int = OPCODE_TEXT) -> bytes:
    """A masked client-to-server WebSocket frame (RFC 6455 5.3)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    if n:
        keystream = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(
            n, "big"
        )
    else:
        masked = b""
    return header + mask + masked


@dataclass
class Deliveries:
    """What every client received; shared by all connections of the run."""

    subscribed: int = 0
    received: list[tuple[float, int, int]] = field(default_factory=list)  # (t, client, seq)
    per_seq: Counter[int] = field(default_factory=Counter)
    payloads: dict[int, bytes] = field(default_factory=dict)  # one raw delta per seq
    out_of_order: int = 0
    coalesced: int = 0
    resyncs: int = 0
    announced: set[int] = field(default_factory=set)

    def record(self, now: float, client: int, message: bytes, last_seq: int) -> int:
        start = message.find(b'"seq":')
        end = start + 6
        while message[end : end + 1].isdigit():
            end += 1
        seq = int(message[start + 6 : end])
        self.received.append((now, client, seq))
        if seq <= last_seq:
            self.out_of_order += 1
        if b'"coalesced":true' in message:
            self.coalesced += 1
        if seq not in self.payloads:
            self.payloads[seq] = message
        self.per_seq[seq] += 1
        if self.per_seq[seq] >= self.subscribed and seq not in self.announced:
            self.announced.add(seq)
            emit({"event": "delivered", "seq": seq})
        return seq


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class EngineIOClient(asyncio.Protocol):
    """One raw Engine.IO v4 client over a WebSocket; Socket.IO namespace ``/`` only."""

    def __init__(self, index: int, host: str, path: str, deliveries: Deliveries) -> None:
        loop = asyncio.get_running_loop()
        self.index = index
        self._host = host
        self._path = path
        self._deliveries = deliveries
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._upgraded = False
        self.last_seq = 0
        self.opened: asyncio.Future[bytes] = loop.create_future()
        self.connected: asyncio.Future[bytes] = loop.create_future()
        self.subscribed: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self._path} HTTP/1.1\r\nHost: {self._host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.opened, self.connected, self.subscribed):
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection lost: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self._buf
        buf += data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:end]).split(b"\r\n", 1)[0]
            del buf[: end + 4]
            if b" 101 " not in status + b" ":
                self._fail(ConnectionError(f"no upgrade: {status.decode(errors='replace')}"))
                return
            self._upgraded = True
        while len(buf) >= 2:
            first, second = buf[0], buf[1]
            length = second & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                offset = 10
            if second & 0x80:  # servers do not mask, but be lenient
                offset += 4
            if len(buf) < offset + length:
                return
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            opcode = first & 0x0F
            if opcode in (OPCODE_TEXT, OPCODE_BINARY, OPCODE_CONTINUATION):
                self._fragments.append(payload)
                if first & 0x80:
                    message = b"".join(self._fragments)
                    self._fragments.clear()
                    self._on_message(now, message)
            elif opcode == OPCODE_PING:
                self._send_raw(client_frame(payload.decode(errors="replace"), 0xA))
            elif opcode == OPCODE_CLOSE:
                self.close()
                return

    # -- Engine.IO / Socket.IO -----------------------------------------------------------------

    def _on_message(self, now: float, message: bytes) -> None:
        kind = message[:1]
        if kind == b"4":
            if message.startswith(DELTA_PREFIX):
                self.last_seq = self._deliveries.record(now, self.index, message, self.last_seq)
            elif message.startswith(RESYNC_PREFIX):
                self._deliveries.resyncs += 1
            elif message.startswith(SUBSCRIBE_ACK_PREFIX):
                self._settle(self.subscribed, message)
            elif message.startswith(b"40"):
                self._settle(self.connected, message)
            elif message.startswith(b"44"):
                self._fail(ConnectionError(f"connect refused: {message[:200]!r}"))
        elif kind == b"2":
            self.send_text("3" + message[1:].decode())
        elif kind == b"0":
            self._settle(self.opened, message)
        elif kind == b"1":
            self.close()

    def send_text(self, text: str) -> None:
        self._send_raw(client_frame(text))

    def _send_raw(self, frame: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame)

    @staticmethod
    def _settle(fut: asyncio.Future[bytes], message: bytes) -> None:
        if not fut.done():
            fut.set_result(message)

    def _fail(self, exc: Exception) -> None:
        for fut in (self.opened, self.connected, self.subscribed):
            if not fut.done():
                fut.set_exception(exc)
        self.close()

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


async def connect_and_subscribe(
    index: int, spec: dict[str, Any], deliveries: Deliveries, token: str
) -> EngineIOClient:
    url = urlsplit(spec["url"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    timeout = float(spec.get("timeout_secs", 30))
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: EngineIOClient(
                index, f"{host}:{port}", "/socket.io/?EIO=4&transport=websocket", deliveries
            ),
            host,
            port,
        ),
        timeout,
    )
    try:
        await asyncio.wait_for(client.opened, timeout)
        client.send_text("40" + json.dumps({"token": token}, separators=(",", ":")))
        await asyncio.wait_for(client.connected, timeout)
        request = json.dumps(["availability:subscribe", spec["subscribe"]], separators=(",", ":"))
        client.send_text("420" + request)
        ack = await asyncio.wait_for(client.subscribed, timeout)
        body = json.loads(ack[3:])
        if not (isinstance(body, list) and body and body[0].get("ok") is True):
            raise ConnectionError(f"subscribe refused: {ack[:200]!r}")
    except BaseException:
        client.close()
        raise
    return client


def summarise(
    spec: dict[str, Any],
    deliveries: Deliveries,
    *,
    connected: int,
    connect_s: float,
    errors: Counter[str],
) -> dict[str, Any]:
    sent_at: dict[int, float] = {}
    available: dict[int, list[Any]] = {}
    for seq, raw in deliveries.payloads.items():
        body = json.loads(raw[2:])[1]
        sent_at[seq] = float(body.get("sent_at", 0.0))
        available[seq] = [s.get("available") for s in body.get("slots", [])]
    latencies = sorted((t - sent_at[seq]) * 1000.0 for t, _, seq in deliveries.received)
    per_seq_last: dict[int, float] = {}
    for t, _, seq in deliveries.received:
        if t > per_seq_last.get(seq, 0.0):
            per_seq_last[seq] = t
    fanout_ms = sorted((per_seq_last[s] - sent_at[s]) * 1000.0 for s in per_seq_last)
    if deliveries.received and sent_at:
        span = max(t for t, _, _ in deliveries.received) - min(sent_at.values())
    else:
        span = 0.0
    unique = len({(client, seq) for _, client, seq in deliveries.received})
    return {
        "clients": len(spec["tokens"]),
        "connected": connected,
        "subscribed": deliveries.subscribed,
        "connect_s": round(connect_s, 3),
        "errors": dict(errors),
        "deltas_seen": len(sent_at),
        "received": len(deliveries.received),
        "received_unique": unique,
        "duplicates": len(deliveries.received) - unique,
        "out_of_order": deliveries.out_of_order,
        "coalesced": deliveries.coalesced,
        "resyncs": deliveries.resyncs,
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1], 2) if latencies else 0.0,
        "fanout_p50_ms": round(percentile(fanout_ms, 0.50), 2),
        "fanout_max_ms": round(fanout_ms[-1], 2) if fanout_ms else 0.0,
        "span_s": round(span, 3),
        "msgs_per_s": round(len(deliveries.received) / span, 1) if span > 0 else 0.0,
        "available_by_seq": {str(s): v for s, v in sorted(available.items())},
    }


async def run(spec: dict[str, Any], commands: asyncio.StreamReader) -> dict[str, Any]:
    tokens: list[str] = spec["tokens"]
    raise_fd_limit(len(tokens) + 256)
    chunk = int(spec.get("connect_chunk", 200))
    deliveries = Deliveries()
    errors: Counter[str] = Counter()
    clients: list[EngineIOClient] = []
    started = time.perf_counter()
    for first in range(0, len(tokens), chunk):
        batch = tokens[first : first + chunk]
        results = await asyncio.gather(
            *(
                connect_and_subscribe(first + i, spec, deliveries, token)
                for i, token in enumerate(batch)
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, EngineIOClient):
                clients.append(result)
            else:
                errors[f"connect:{type(result).__name__}"] += 1
    connect_s = time.perf_counter() - started
    deliveries.subscribed = len(clients)
    emit(
        {
            "event": "ready",
            "connected": len(clients),
            "subscribed": deliveries.subscribed,
            "connect_s": round(connect_s, 3),
            "errors": dict(errors),
        }
    )
    while True:
        line = await commands.readline()
        if not line or line.strip() == b"finish":
            break
    closed = sum(1 for c in clients if c.closed.done())
    if closed:
        errors["closed_by_server"] += closed
    for client in clients:
        client.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in clients)), 10)
    return summarise(spec, deliveries, connected=len(clients), connect_s=connect_s, errors=errors)


async def _main() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = json.loads(await reader.readline())
    return await run(spec, reader)


def main() -> int:
    result = asyncio.run(_main())
    emit({"event": "summary", **result})
    return 0 if result["connected"] > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
