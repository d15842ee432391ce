"""The contention bench's load generator, run as its own process so its CPU is not the server's.

``python -m hub.bench.loadgen`` reads one JSON spec from stdin (or from the first argument)::

    {"mode": "socketio" | "http", "url": "http://127.0.0.1:PORT", "tokens": ["<JWT>", ...],
     "slot_ids": ["<uuid>", ...], "requests": R, "connect_chunk": 100,
     "call_timeout_secs": 60, "seed": 1}

and prints exactly one JSON line (:func:`summarise`) to stdout. One client per token:

- ``socketio``: a real ``socketio.AsyncClient`` over WebSocket; all clients connect
  (``connect_chunk`` at a time) before the clock starts; each then sends ``hold:create`` R times,
  one after another, awaiting each ack.
- ``http``: the same, as ``POST /holds`` with ``Authorization: Bearer <token>`` on one keep-alive
  connection pool; ``GET /healthz`` from every client opens the connections before the clock.

Each request asks for one place in a random slot (seeded per client) under a fresh idempotency
key. ``ops`` counts every answer that went through the hold logic (held or sold out); anything
else (timeouts, other error codes) is counted by kind under ``errors`` and is not an op.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

SOLD_OUT = "sold_out"


@dataclass
class Tally:
    ok: int = 0
    sold_out: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    def record(self, outcome: str, latency_ms: float) -> None:
        if outcome == "ok":
            self.ok += 1
        elif outcome == SOLD_OUT:
            self.sold_out += 1
        else:
            self.errors[outcome] += 1
            return
        self.latencies_ms.append(latency_ms)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def summarise(
    spec: dict[str, Any], tally: Tally, *, connected: int, connect_s: float, elapsed_s: float
) -> dict[str, Any]:
    ops = tally.ok + tally.sold_out
    lat = sorted(tally.latencies_ms)
    return {
        "mode": spec["mode"],
        "clients": len(spec["tokens"]),
        "connected": connected,
        "requests_per_client": spec["requests"],
        "connect_s": round(connect_s, 3),
        "elapsed_s": round(elapsed_s, 3),
        "ops": ops,
        "ok": tally.ok,
        "sold_out": tally.sold_out,
        "errors": dict(tally.errors),
        "ops_per_s": round(ops / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "p50_ms": round(percentile(lat, 0.50), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        "max_ms": round(lat[-1], 2) if lat else 0.0,
    }


def _payloads(spec: dict[str, Any], client: int) -> list[dict[str, Any]]:
    rng = random.Random(f"{spec.get('seed', 1)}-{client}")
    slots = spec["slot_ids"]
    return [
        {"slot_id": rng.choice(slots), "qty": 1, "idempotency_key": uuid.uuid4().hex}
        for _ in range(spec["requests"])
    ]


def _ack_outcome(ack: Any) -> str:
    if isinstance(ack, dict):
        if ack.get("ok") is True:
            return "ok"
        error = ack.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return error["code"]
    return "malformed_ack"


async def run_socketio(spec: dict[str, Any]) -> dict[str, Any]:
    url = spec["url"]
    timeout = float(spec.get("call_timeout_secs", 60))
    chunk = int(spec.get("connect_chunk", 100))
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        clients = [
            socketio.AsyncClient(reconnection=False, http_session=http, handle_sigint=False)
            for _ in spec["tokens"]
        ]
        started = time.perf_counter()
        connected: list[socketio.AsyncClient] = []
        for first in range(0, len(clients), chunk):
            batch = list(zip(clients[first : first + chunk], spec["tokens"][first:], strict=False))
            results = await asyncio.gather(
                *(
                    c.connect(
                        url, auth={"token": t}, transports=["websocket"], wait_timeout=timeout
                    )
                    for c, t in batch
                ),
                return_exceptions=True,
            )
            for (client, _), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    tally.errors[f"connect:{type(result).__name__}"] += 1
                else:
                    connected.append(client)
        connect_s = time.perf_counter() - started

        async def one_client(index: int, client: socketio.AsyncClient) -> None:
            for payload in _payloads(spec, index):
                sent = time.perf_counter()
                try:
                    ack = await client.call("hold:create", payload, timeout=timeout)
                    outcome = _ack_outcome(ack)
                except socketio.exceptions.TimeoutError:
                    outcome = "timeout"
                except socketio.exceptions.SocketIOError as exc:
                    outcome = f"socket:{type(exc).__name__}"
                tally.record(outcome, (time.perf_counter() - sent) * 1000.0)

        started = time.perf_counter()
        await asyncio.gather(*(one_client(i, c) for i, c in enumerate(connected)))
        elapsed_s = time.perf_counter() - started
        await asyncio.gather(*(c.disconnect() for c in connected), return_exceptions=True)
    return summarise(
        spec, tally, connected=len(connected), connect_s=connect_s, elapsed_s=elapsed_s
    )


async def run_http(spec: dict[str, Any]) -> dict[str, Any]:
    url = spec["url"].rstrip("/")
    timeout = aiohttp.ClientTimeout(total=float(spec.get("call_timeout_secs", 60)))
    tally = Tally()
    tokens: list[str] = spec["tokens"]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        started = time.perf_counter()

        async def warm_up() -> bool:
            try:
                async with http.get(f"{url}/healthz") as resp:
                    await resp.read()
                    return resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        warm = await asyncio.gather(*(warm_up() for _ in tokens))
        connect_s = time.perf_counter() - started
        failed = warm.count(False)
        if failed:
            tally.errors["connect:warm_up_failed"] += failed

        async def one_client(index: int, token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            for payload in _payloads(spec, index):
                sent = time.perf_counter()
                try:
                    async with http.post(f"{url}/holds", json=payload, headers=headers) as resp:
                        body = await resp.json(content_type=None)
                    if resp.status == 201:
                        outcome = "ok"
                    else:
                        outcome = _ack_outcome({"ok": False, **(body or {})})
                        if outcome == "malformed_ack":
                            outcome = f"http_{resp.status}"
                except TimeoutError:
                    outcome = "timeout"
                except (aiohttp.ClientError, ValueError) as exc:
                    outcome = f"http:{type(exc).__name__}"
                tally.record(outcome, (time.perf_counter() - sent) * 1000.0)

        started = time.perf_counter()
        await asyncio.gather(*(one_client(i, t) for i, t in enumerate(tokens)))
        elapsed_s = time.perf_counter() - started
    return summarise(
        spec, tally, connected=len(tokens) - failed, connect_s=connect_s, elapsed_s=elapsed_s
    )


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("mode") == "socketio":
        return await run_socketio(spec)
    if spec.get("mode") == "http":
        return await run_http(spec)
    raise ValueError(f"unknown mode {spec.get('mode')!r} (socketio or http)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0] if args else sys.stdin.read())
    result = asyncio.run(run(spec))
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0 if result["connected"] > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
