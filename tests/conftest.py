"""Real parts for every test: a throwaway PostgreSQL cluster, one Ray session, a hub server.

The cluster and Ray live for the whole run (starting them is what costs); every test makes its
own tenant, so tests do not see each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import ray
from aiohttp import web

from hub import keys
from hub.app import create_app
from hub.settings import Settings
from storage.cluster import LocalPostgres
from storage.migrate import apply_migrations
from tests.support import Hub

TEST_JWT_SECRET = "test-secret-not-for-production-" + "0123456789abcdef" * 3


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="seva-test-pg-"))
    root.chmod(0o755)  # the cluster may run as the postgres user, who must enter it
    cluster = LocalPostgres(root / "pg", conf={"fsync": "off", "max_connections": "300"})
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=100 * 1024 * 1024,
            configure_logging=False,
        )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
async def migrated_dsn(pg_dsn: str) -> str:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return pg_dsn


@pytest.fixture(scope="session")
async def db(migrated_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(migrated_dsn, min_size=1, max_size=10)
    yield pool
    await pool.close()


def hub_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "shards": 2,
        "ray_namespace": f"seva-test-{uuid.uuid4().hex[:8]}",
        "jwt_secret": TEST_JWT_SECRET,
        "socket_events_per_sec": 10_000.0,
        "socket_burst": 10_000,
        # Every test logs in from 127.0.0.1: the throttling test uses hubs of its own.
        "login_max_failures": 1_000,
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def start_hub(settings: Settings, dsn: str) -> tuple[Hub, web.AppRunner]:
    app = create_app(settings, dsn=dsn)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Hub(url=f"http://127.0.0.1:{port}", app=app, tokens=app[keys.TOKENS]), runner


@pytest.fixture(scope="session")
async def hub(migrated_dsn: str, ray_session: None) -> AsyncIterator[Hub]:
    handle, runner = await start_hub(hub_settings(), migrated_dsn)
    yield handle
    await runner.cleanup()
