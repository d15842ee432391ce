"""SQL of ``seva bench wallet``: funded bench wallets on the real ledger, and the plain backend's
own two tables, its debit and its audit.

Our side debits real ``ledger_accounts`` (limited ``user_wallet`` accounts, one per bench user,
funded from ``gateway_clearing`` through :func:`storage.ledger.commit_ledger`, so the books
balance from the first row and ``verify_ledger`` applies). The baseline is what a plain backend
keeps instead: a balance column per wallet and an append-only ledger table::

    bench_balances (wallet_id, initial_balance, balance)
    bench_ledger   (id, wallet_id, amount, at)

and one transaction per debit (:func:`debit_with_conditional_update`). :func:`audit_baseline`
then checks what ``verify_ledger`` checks for ours: every balance equals its initial balance minus
its ledger rows, and none is negative.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from storage.bench import create_bench_tenant
from storage.ledger import commit_ledger, ensure_account
from storage.ledger_records import TransferRecord

BENCH_CURRENCY = "INR"
BENCH_DEBIT_CODE = "bench_debit"
BENCH_FUNDING_CODE = "bench_funding"
# Bench tenants get no slots and hold nothing; the tenant only owns the bench users.
_UNUSED_HOLD_TTL_SECS = 3600


@dataclass(frozen=True)
class BenchLedgerWallets:
    """Limited user wallets of one bench tenant, funded, and the account debits credit."""

    tenant_id: UUID
    wallet_ids: list[UUID]
    revenue_id: UUID


@dataclass(frozen=True)
class BaselineAudit:
    ledger_rows: int  # rows in bench_ledger for the audited wallets
    mismatched: int  # wallets whose balance != initial_balance - sum(their ledger amounts)
    negative: int  # wallets with a balance below 0

    @property
    def violations(self) -> int:
        return self.mismatched + self.negative


# -- ours: the real ledger ---------------------------------------------------------------------


async def create_bench_ledger_wallets(
    conn: asyncpg.Connection, *, label: str, funded_paise: Sequence[int]
) -> BenchLedgerWallets:
    """A fresh tenant with one user per entry of ``funded_paise``, each with a limited INR
    ``user_wallet`` credited with that amount (0 = not funded) from ``gateway_clearing``.

    The funding goes through :func:`commit_ledger` in one transaction, so every balance is
    backed by transfer rows. Call it before any wallet shard has loaded these accounts.
    """
    tenant = await create_bench_tenant(
        conn,
        label=label,
        slots=0,
        capacity=1,
        users=len(funded_paise),
        hold_ttl_secs=_UNUSED_HOLD_TTL_SECS,
    )
    tag = uuid.uuid4().hex[:10]
    now = datetime.now(UTC)
    async with conn.transaction():
        clearing = await ensure_account(conn, code="gateway_clearing", currency=BENCH_CURRENCY)
        revenue = await ensure_account(conn, code="platform_revenue", currency=BENCH_CURRENCY)
        rows = await conn.fetch(
            """
            INSERT INTO ledger_accounts (code, currency, tenant_id, owner_user_id,
                                         debits_must_not_exceed_credits)
            SELECT 'user_wallet', $1, $2, u, true
            FROM unnest($3::uuid[]) WITH ORDINALITY AS t(u, i)
            ORDER BY i
            RETURNING id
            """,
            BENCH_CURRENCY,
            tenant.tenant_id,
            tenant.user_ids,
        )
        wallet_ids: list[UUID] = [r["id"] for r in rows]
        transfers = [
            TransferRecord(
                transfer_id=f"bench-fund-{tag}-{i}",
                kind="single",
                debit_account_id=clearing,
                credit_account_id=wallet_id,
                amount=amount,
                currency=BENCH_CURRENCY,
                pending_id=None,
                timeout_at=None,
                code=BENCH_FUNDING_CODE,
                linked_group=None,
                user_data=None,
                created_at=now,
            )
            for i, (wallet_id, amount) in enumerate(zip(wallet_ids, funded_paise, strict=True))
            if amount > 0
        ]
        deltas: dict[UUID, tuple[int, int, int, int]] = {}
        if transfers:
            deltas[clearing] = (sum(t.amount for t in transfers), 0, 0, 0)
        for t in transfers:
            deltas[t.credit_account_id] = (0, t.amount, 0, 0)
        if deltas:
            await commit_ledger(
                conn, transfers=transfers, resolutions=(), deltas=deltas, fenced_versions={}
            )
    return BenchLedgerWallets(tenant_id=tenant.tenant_id, wallet_ids=wallet_ids, revenue_id=revenue)


async def count_ledger_debits(conn: asyncpg.Connection, *, wallet_ids: Sequence[UUID]) -> int:
    """Bench debit transfers stored for these wallets."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM ledger_transfers "
        "WHERE debit_account_id = ANY($1::uuid[]) AND code = $2",
        list(wallet_ids),
        BENCH_DEBIT_CODE,
    )
    return count


# -- the baseline: a plain backend's balance column -------------------------------------------


async def create_baseline_tables(conn: asyncpg.Connection) -> None:
    """The plain backend's schema (idempotent): a balance row per wallet, a ledger table with
    the index and foreign key such a backend would have."""
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS bench_balances (
            wallet_id        uuid PRIMARY KEY,
            initial_balance  bigint NOT NULL,
            balance          bigint NOT NULL
        );
        CREATE TABLE IF NOT EXISTS bench_ledger (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            wallet_id  uuid NOT NULL REFERENCES bench_balances (wallet_id),
            amount     bigint NOT NULL,
            at         timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS bench_ledger_wallet ON bench_ledger (wallet_id, id);
        """
    )


async def create_baseline_wallets(
    conn: asyncpg.Connection, *, funded_paise: Sequence[int]
) -> list[UUID]:
    """One ``bench_balances`` row per entry of ``funded_paise``, starting at that balance."""
    rows = await conn.fetch(
        """
        INSERT INTO bench_balances (wallet_id, initial_balance, balance)
        SELECT gen_random_uuid(), b, b FROM unnest($1::bigint[]) WITH ORDINALITY AS t(b, i)
        ORDER BY i
        RETURNING wallet_id
        """,
        list(funded_paise),
    )
    return [r["wallet_id"] for r in rows]


async def debit_with_conditional_update(
    conn: asyncpg.Connection, *, wallet_id: UUID, amount_paise: int
) -> bool:
    """Debit ``amount_paise`` in one transaction: a conditional ``UPDATE`` (the row lock makes
    concurrent debits of one wallet wait for each other) and, if it took, a ledger row.

    False (nothing written) if the balance is short or the wallet does not exist.
    """
    async with conn.transaction():
        updated = await conn.fetchval(
            "UPDATE bench_balances SET balance = balance - $1 "
            "WHERE wallet_id = $2 AND balance >= $1 RETURNING 1",
            amount_paise,
            wallet_id,
        )
        if updated is None:
            return False
        await conn.execute(
            "INSERT INTO bench_ledger (wallet_id, amount) VALUES ($1, $2)", wallet_id, amount_paise
        )
    return True


async def audit_baseline(conn: asyncpg.Connection, *, wallet_ids: Sequence[UUID]) -> BaselineAudit:
    """Ledger rows of these wallets, and how many break ``balance = initial - sum(ledger)`` or
    ``balance >= 0``."""
    row = await conn.fetchrow(
        """
        WITH spent AS (
            SELECT wallet_id, count(*) AS n, sum(amount) AS amount FROM bench_ledger
            WHERE wallet_id = ANY($1::uuid[]) GROUP BY wallet_id
        )
        SELECT
            coalesce(sum(s.n), 0)::bigint AS ledger_rows,
            count(*) FILTER (
                WHERE b.balance <> b.initial_balance - coalesce(s.amount, 0)
            ) AS mismatched,
            count(*) FILTER (WHERE b.balance < 0) AS negative
        FROM bench_balances AS b LEFT JOIN spent AS s ON s.wallet_id = b.wallet_id
        WHERE b.wallet_id = ANY($1::uuid[])
        """,
        list(wallet_ids),
    )
    return BaselineAudit(
        ledger_rows=row["ledger_rows"], mismatched=row["mismatched"], negative=row["negative"]
    )
