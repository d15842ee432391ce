"""Fixtures for tests that run hubs as separate processes (``tests/cluster_support.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support import create_database


@pytest.fixture(scope="module")
async def cluster_dsn(pg_dsn: str) -> str:
    """A database of the cluster's own. Every hub on one database must share one Redis (the
    relay of any of them may publish a feed event); the session's in-process hub shares none
    with a test cluster, so the two must not share a database."""
    return await create_database(pg_dsn)


@pytest.fixture(scope="module")
async def cluster_db(cluster_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(cluster_dsn, min_size=1, max_size=5)
    yield pool
    await pool.close()
