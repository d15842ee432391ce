"""What every ``seva bench`` shares: a scratch database, the durability check, the runner that
turns a failed run into a JSON error line, and argument parsing helpers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg

from storage.bench import create_scratch_database, drop_scratch_database, with_database


class BenchFailed(RuntimeError):
    """The bench could not run (not a measurement that went badly)."""


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


@contextlib.asynccontextmanager
async def scratch_database(server_dsn: str, *, keep_data: bool) -> AsyncIterator[str]:
    """A fresh, migrated database on the same server for this run, dropped afterwards.

    Both sides then start from the same empty tables, and the bench leaves nothing behind in
    the database it was pointed at. If the role may not create databases (or the DSN is not a
    URL), the run uses the given database itself and leaves its bench data there.
    """
    from storage.migrate import apply_migrations

    name = f"seva_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        try:
            dsn = with_database(server_dsn, name)
            await create_scratch_database(admin, name)
        except (ValueError, asyncpg.InsufficientPrivilegeError) as exc:
            print(
                f"note: cannot create a scratch database ({exc}); running in the given "
                "database, whose bench data stays behind",
                flush=True,
            )
            await apply_migrations(admin)
            yield server_dsn
            return
        try:
            conn = await asyncpg.connect(dsn)
            try:
                await apply_migrations(conn)
            finally:
                await conn.close()
            yield dsn
        finally:
            if keep_data:
                print(f"kept database {name}", flush=True)
            else:
                await drop_scratch_database(admin, name)
    finally:
        await admin.close()


def check_synchronous_commit(value: str) -> None:
    if value != "on":
        raise BenchFailed(
            f"synchronous_commit is {value!r} on this server/role; the bench compares durable "
            "commits and needs it 'on'"
        )


def run_bench(
    name: str, main: Callable[[], Coroutine[Any, Any, tuple[dict[str, Any], bool]]]
) -> int:
    """Exit status 0 (healthy), 1 (an integrity check failed) or 2 (could not run); the last
    line printed is always one JSON object."""
    try:
        summary_line, healthy = asyncio.run(main())
    except (BenchFailed, OSError, asyncpg.PostgresError) as exc:
        print(f"bench failed: {exc!r}", file=sys.stderr, flush=True)
        print(json.dumps({"bench": name, "error": str(exc)}), flush=True)
        return 2
    print(json.dumps(summary_line), flush=True)
    return 0 if healthy else 1
