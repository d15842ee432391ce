"""``seva ledger verify`` reports the invariants and fails on a broken ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest

pytestmark = pytest.mark.timeout(120)


def _verify(dsn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "ledger", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


async def test_verify_passes_on_a_clean_ledger_and_names_a_broken_balance(pg_dsn: str):
    name = f"verify_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        conn = await asyncpg.connect(dsn)
        from storage.migrate import apply_migrations

        await apply_migrations(conn)
        a = await conn.fetchval(
            "INSERT INTO ledger_accounts (code, currency) VALUES ('gateway_clearing', 'INR') "
            "RETURNING id"
        )
        b = await conn.fetchval(
            "INSERT INTO ledger_accounts (code, currency, debits_must_not_exceed_credits) "
            "VALUES ('user_wallet', 'INR', true) RETURNING id"
        )
        await conn.execute(
            "INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, "
            "amount, currency) VALUES ('t1', 'single', $1, $2, 500, 'INR')",
            a,
            b,
        )
        await conn.execute("UPDATE ledger_accounts SET debits_posted = 500 WHERE id = $1", a)
        await conn.execute("UPDATE ledger_accounts SET credits_posted = 500 WHERE id = $1", b)
        clean = _verify(dsn)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert json.loads(clean.stdout.strip().splitlines()[-1])["violations"] == 0
        # A rupee appears from nowhere: stored balance no longer matches the entries.
        await conn.execute("UPDATE ledger_accounts SET credits_posted = 600 WHERE id = $1", b)
        broken = _verify(dsn)
        assert broken.returncode == 1
        last = json.loads(broken.stdout.strip().splitlines()[-1])
        assert last["violations"] >= 1
        assert last["checks"]["balances_match_entries"] is False
        assert last["checks"]["debits_equal_credits"] is False
        assert "FAIL balances_match_entries" in broken.stdout
        await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
