"""A hub of its own for a fuzz test: a fresh migrated database (so ``verify_all`` afterwards
sees exactly what the fuzzing wrote, not other tests' rows), the session's Ray, and the checks
every fuzzed answer must pass."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from storage.verify import verify_all
from tests.conftest import hub_settings, start_hub
from tests.support import Hub, create_database


@asynccontextmanager
async def fuzz_hub(pg_dsn: str) -> AsyncIterator[tuple[Hub, asyncpg.Pool, str]]:
    """``(hub, pool, dsn)`` on a new database of the session's cluster."""
    dsn = await create_database(pg_dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5)
    handle, runner = await start_hub(hub_settings(), dsn)
    try:
        yield handle, pool, dsn
    finally:
        await runner.cleanup()
        await pool.close()


async def assert_no_violations(pool: asyncpg.Pool) -> None:
    """No invariant of ``seva verify`` is broken: nothing the fuzzing refused left a partial
    write behind (a hold without its counter, a transfer without its other leg, a gap...)."""
    async with pool.acquire() as conn:
        report = await verify_all(conn)
    broken = {name: c for name, c in report["checks"].items() if not c["ok"]}
    assert report["violations"] == 0, json.dumps(broken, indent=1, default=str)


def assert_error_envelope(error: Any, context: object) -> None:
    """``{code, message, details}`` exactly, a non-empty string code that is not ``internal``,
    a string message (details: whatever the error carries, often null)."""
    assert isinstance(error, dict), context
    assert set(error) == {"code", "message", "details"}, context
    assert isinstance(error["code"], str) and error["code"], context
    assert error["code"] != "internal", context
    assert isinstance(error["message"], str), context
