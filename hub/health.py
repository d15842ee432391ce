"""Readiness probes of the hub's dependencies, each ``{ok, latency_ms, error?}``.

A probe never raises: a dependency that fails or does not answer within its timeout is
``ok: false`` with the error's class name (never its message: it could carry a DSN).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

REDIS_TIMEOUT_SECS = 2.0


async def check_redis(url: str, *, timeout_secs: float = REDIS_TIMEOUT_SECS) -> dict[str, Any]:
    """PING on a fresh connection (not the fan-out's pool: its retries and buffers would hide
    an outage, and a probe must not queue behind publishes)."""
    started = time.perf_counter()
    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=timeout_secs, socket_timeout=timeout_secs
    )
    try:
        await asyncio.wait_for(client.ping(), timeout_secs)
    except (RedisError, OSError, TimeoutError) as exc:
        return {"ok": False, "latency_ms": elapsed_ms(started), "error": type(exc).__name__}
    finally:
        await client.aclose()
    return {"ok": True, "latency_ms": elapsed_ms(started)}


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
