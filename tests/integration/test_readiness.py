"""``/readyz`` checks PostgreSQL, Ray and, when ``REDIS_URL`` is set, Redis (a real
redis-server stopped and started again); ``/healthz`` stays cheap and up throughout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from hub.chaos.processes import RedisServer
from tests.conftest import hub_settings, start_hub
from tests.observability_support import scrape, total, value
from tests.support import Hub, create_database

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def redis_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RedisServer]:
    """On a fixed free port, so it can be started again at the same URL."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def redis_hub(
    pg_dsn: str, ray_session: None, redis_server: RedisServer
) -> AsyncIterator[Hub]:
    # A database of its own: every hub relaying a database must share its Redis.
    dsn = await create_database(pg_dsn)
    settings = hub_settings(
        redis_url=SecretStr(redis_server.url),
        redis_retry_max_secs=0.5,
        redis_health_check_secs=0.5,
    )
    handle, runner = await start_hub(settings, dsn)
    yield handle
    await runner.cleanup()


@pytest.fixture(scope="module")
async def strict_hub(
    pg_dsn: str, ray_session: None, redis_server: RedisServer
) -> AsyncIterator[Hub]:
    dsn = await create_database(pg_dsn)
    settings = hub_settings(redis_url=SecretStr(redis_server.url), readyz_require_redis=True)
    handle, runner = await start_hub(settings, dsn)
    yield handle
    await runner.cleanup()


async def _get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def test_without_redis_configured_readyz_has_no_redis_check(hub: Hub):
    status, body = await _get(f"{hub.url}/readyz")
    assert status == 200 and body["status"] == "ready"
    assert set(body["checks"]) == {"postgres", "ray"}
    for check in body["checks"].values():
        assert check["ok"] is True and check["latency_ms"] >= 0


async def test_a_stopped_redis_makes_the_hub_degraded_but_ready_until_it_is_back(
    redis_hub: Hub, strict_hub: Hub, redis_server: RedisServer
):
    status, body = await _get(f"{redis_hub.url}/readyz")
    assert status == 200, body
    assert body["checks"]["redis"]["ok"] is True
    assert 0 <= body["checks"]["redis"]["latency_ms"] < 2000
    healthy_before = await scrape(redis_hub)
    assert value(healthy_before, "seva_redis_fanout_healthy") == 1
    errors_before = total(healthy_before, "seva_redis_fanout_errors_total")

    redis_server.stop()
    try:
        status, body = await _get(f"{redis_hub.url}/readyz")
        assert status == 200, body
        assert body["status"] == "degraded"
        strict_status, strict = await _get(f"{strict_hub.url}/readyz")
        assert strict_status == 503 and strict["status"] == "not_ready", strict
        assert strict["checks"]["redis"]["ok"] is False
        redis = body["checks"]["redis"]
        assert redis["ok"] is False and redis["error"] and redis["latency_ms"] >= 0
        assert body["checks"]["postgres"]["ok"] is True and body["checks"]["ray"]["ok"] is True
        health_status, health = await _get(f"{redis_hub.url}/healthz")
        assert health_status == 200 and health == {"status": "ok"}
        for _ in range(100):  # the fan-out notices on its next PING (every 0.5 s)
            down = await scrape(redis_hub)
            if value(down, "seva_redis_fanout_healthy") == 0:
                break
            await asyncio.sleep(0.1)
        assert value(down, "seva_redis_fanout_healthy") == 0
        assert total(down, "seva_redis_fanout_errors_total") > errors_before
    finally:
        await redis_server.start()

    for _ in range(100):
        status, body = await _get(f"{redis_hub.url}/readyz")
        if body["status"] == "ready":
            break
        await asyncio.sleep(0.1)
    assert status == 200 and body["checks"]["redis"]["ok"] is True, body
