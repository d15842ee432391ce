"""LocalPostgres against the real PostgreSQL binaries on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from storage.cluster import (
    FALLBACK_ROOT,
    LOCATION_FILE,
    LocalPostgres,
    PostgresNotInstalled,
    find_server_bin_dir,
)

# fsync off: these clusters are thrown away, and it keeps initdb well under a second.
FAST_CONF = {"fsync": "off"}

try:
    find_server_bin_dir()
except PostgresNotInstalled:
    pytestmark = pytest.mark.skip(reason="PostgreSQL server binaries are not installed")


def _fetchval(dsn: str, sql: str) -> object:
    async def go() -> object:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(go())


def _execute(dsn: str, sql: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def _remove_cluster(pg: LocalPostgres) -> None:
    """Stop pg and remove a /var/tmp fallback cluster it may have created."""
    cluster_dir = pg.cluster_dir
    pg.stop()
    if cluster_dir.parent == FALLBACK_ROOT:
        shutil.rmtree(cluster_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # still holds another cluster
            FALLBACK_ROOT.rmdir()


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp dir the `postgres` user can enter (pytest's tmp_path is 0700 when root)."""
    path = Path(tempfile.mkdtemp(prefix="seva-pg-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A 0700 temp dir, as `mktemp -d` makes: the `postgres` user cannot enter it."""
    path = Path(tempfile.mkdtemp(prefix="seva-pg-private-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_fresh_cluster_accepts_the_dsn_and_keeps_data_across_restarts(open_dir: Path) -> None:
    data_dir = open_dir / "pg-data"
    pg = LocalPostgres(data_dir, conf=FAST_CONF)
    try:
        dsn = pg.start()
        assert dsn == pg.dsn
        assert dsn.startswith("postgresql://seva:") and dsn.endswith(f"@127.0.0.1:{pg.port}/seva")
        assert _fetchval(dsn, "SELECT current_database()") == "seva"
        assert _fetchval(dsn, "SHOW fsync") == "off"
        assert _fetchval(dsn, "SHOW max_connections") == "200"
        _execute(dsn, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)")
        assert (data_dir / "seva-password").stat().st_mode & 0o777 == 0o600
        pg.stop()

        again = LocalPostgres(data_dir, conf=FAST_CONF)
        assert again.start() == dsn  # same password, same recorded port
        assert _fetchval(dsn, "SELECT id FROM kept") == 42
    finally:
        _remove_cluster(pg)


def test_start_reuses_a_server_already_running_from_the_same_dir(open_dir: Path) -> None:
    first = LocalPostgres(open_dir / "pg-data", conf=FAST_CONF)
    try:
        dsn = first.start()
        pid_before = (first.cluster_dir / "data" / "postmaster.pid").read_text().split()[0]
        second = LocalPostgres(open_dir / "pg-data", port=1, conf=FAST_CONF)
        assert second.start() == dsn  # the running server's port wins over port=1
        pid_after = (first.cluster_dir / "data" / "postmaster.pid").read_text().split()[0]
        assert pid_after == pid_before
    finally:
        _remove_cluster(first)


def test_stop_is_a_noop_when_not_running(open_dir: Path) -> None:
    never_started = LocalPostgres(open_dir / "never")
    never_started.stop()
    assert not (open_dir / "never").exists()

    pg = LocalPostgres(open_dir / "pg-data", conf=FAST_CONF)
    try:
        pg.start()
        pg.stop()
        pg.stop()
        assert not (pg.cluster_dir / "data" / "postmaster.pid").exists()
    finally:
        _remove_cluster(pg)


@pytest.mark.skipif(os.geteuid() != 0, reason="the /var/tmp fallback exists only for root")
def test_root_with_untraversable_data_dir_falls_back_to_var_tmp(private_dir: Path) -> None:
    data_dir = private_dir / "seva"
    pg = LocalPostgres(data_dir, conf=FAST_CONF)
    try:
        dsn = pg.start()
        assert pg.cluster_dir.parent == FALLBACK_ROOT
        assert (data_dir / LOCATION_FILE).read_text().strip() == str(pg.cluster_dir)
        assert pg.cluster_dir.stat().st_mode & 0o777 == 0o700
        _execute(dsn, "CREATE TABLE kept (id int)")
        pg.stop()

        again = LocalPostgres(data_dir, conf=FAST_CONF)
        assert again.start() == dsn
        assert again.cluster_dir == pg.cluster_dir
        assert _fetchval(dsn, "SELECT count(*) FROM kept") == 0
    finally:
        _remove_cluster(pg)


@pytest.mark.skipif(os.geteuid() != 0, reason="the /var/tmp fallback exists only for root")
def test_recreated_data_dir_replaces_its_stale_fallback_cluster(private_dir: Path) -> None:
    data_dir = private_dir / "seva"
    pg = LocalPostgres(data_dir, conf=FAST_CONF)
    try:
        old_dsn = pg.start()
        _execute(old_dsn, "CREATE TABLE from_before (id int)")
        # What `make reset-demo` does: delete the data dir, server still running.
        shutil.rmtree(data_dir)

        fresh = LocalPostgres(data_dir, conf=FAST_CONF)
        new_dsn = fresh.start()
        assert new_dsn != old_dsn  # new password
        missing = _fetchval(new_dsn, "SELECT to_regclass('from_before') IS NULL")
        assert missing is True
    finally:
        _remove_cluster(pg)


def test_missing_binaries_name_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(PostgresNotInstalled, match=r"apt-get install postgresql"):
        find_server_bin_dir(search_path=str(tmp_path), lib_root=tmp_path)
