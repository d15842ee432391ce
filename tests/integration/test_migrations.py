"""Migrations apply once, in order, under a lock, and refuse an edited file."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from storage.migrate import MigrationChecksumMismatch, apply_migrations, bundled_migrations


@pytest.fixture
async def scratch_db(pg_dsn: str):
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def _write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql, encoding="utf-8")


async def test_bundled_migrations_apply_once(scratch_db: str):
    conn = await asyncpg.connect(scratch_db)
    try:
        first = await apply_migrations(conn)
        second = await apply_migrations(conn)
        assert first == [f"{m.version:04d}_{m.name}" for m in bundled_migrations()]
        assert second == []
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(first)
    finally:
        await conn.close()


async def test_concurrent_starts_apply_each_migration_exactly_once(scratch_db: str):
    conns = [await asyncpg.connect(scratch_db) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        applied = [name for r in results for name in r]
        assert sorted(applied) == sorted(set(applied))
        assert len(applied) == len(bundled_migrations())
    finally:
        for c in conns:
            await c.close()


async def test_an_edited_applied_migration_is_refused(scratch_db: str, tmp_path: Path):
    _write(tmp_path, "0001_first.sql", "CREATE TABLE a (id int);")
    conn = await asyncpg.connect(scratch_db)
    try:
        assert await apply_migrations(conn, bundled_migrations(tmp_path)) == ["0001_first"]
        _write(tmp_path, "0001_first.sql", "CREATE TABLE a (id bigint);")
        _write(tmp_path, "0002_second.sql", "CREATE TABLE b (id int);")
        with pytest.raises(MigrationChecksumMismatch, match="0001_first"):
            await apply_migrations(conn, bundled_migrations(tmp_path))
        assert await conn.fetchval("SELECT to_regclass('b')") is None
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(scratch_db: str, tmp_path: Path):
    _write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id int);")
    _write(tmp_path, "0002_bad.sql", "CREATE TABLE half (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(scratch_db)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await apply_migrations(conn, bundled_migrations(tmp_path))
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        versions = await conn.fetch("SELECT version FROM schema_migrations")
        assert [r["version"] for r in versions] == [1]
    finally:
        await conn.close()
