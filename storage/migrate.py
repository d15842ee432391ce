"""Numbered SQL migrations (``storage/migrations/NNNN_name.sql``), applied once each, in order.

Migrations run under a PostgreSQL advisory lock so that several hub processes starting together
apply each one exactly once. Each applied file's SHA-256 is recorded; a file edited after it was
applied is refused (:class:`MigrationChecksumMismatch`) instead of silently diverging.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

MIGRATION_LOCK_KEY = 0x5E7A_0001  # arbitrary, but fixed forever
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationChecksumMismatch(RuntimeError):
    """An already applied migration file was edited; add a new migration instead."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def bundled_migrations(directory: Path | None = None) -> list[Migration]:
    """The migrations shipped in this package (or in ``directory``), sorted by version."""
    root = directory or Path(str(resources.files("storage") / "migrations"))
    found: list[Migration] = []
    for path in sorted(root.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {root}")
    return found


async def apply_migrations(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[str]:
    """Apply what is not applied yet; return the names applied now.

    Raises MigrationChecksumMismatch if an applied migration's file changed.
    """
    pending = bundled_migrations() if migrations is None else migrations
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        recorded = {r["version"]: r for r in rows}
        for migration in pending:
            row = recorded.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationChecksumMismatch(
                        f"migration {migration.version:04d}_{row['name']} was edited after it "
                        "was applied (checksum differs); add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(f"{migration.version:04d}_{migration.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now
