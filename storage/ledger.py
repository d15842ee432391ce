"""Ledger SQL: accounts, transfers, pending resolutions, and the invariant checks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from protocols.errors import NotFound
from storage.ledger_records import AccountState, Resolution, TransferRecord

WALLET_CHANNEL = "seva_wallets"
_ACCOUNT_COLUMNS = (
    "id, code, currency, tenant_id, owner_user_id, debits_must_not_exceed_credits, "
    "debits_posted, credits_posted, debits_pending, credits_pending, version, "
    "low_balance_threshold, low_balance_notified"
)
_TRANSFER_COLUMNS = (
    "id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, timeout_at, "
    "code, linked_group, user_data, created_at"
)


class StaleAccount(RuntimeError):
    """An account changed under the shard that owns it; reload and try again."""


def _account(row: asyncpg.Record) -> AccountState:
    return AccountState(
        account_id=row["id"],
        code=row["code"],
        currency=row["currency"],
        tenant_id=row["tenant_id"],
        owner_user_id=row["owner_user_id"],
        limited=row["debits_must_not_exceed_credits"],
        debits_posted=row["debits_posted"],
        credits_posted=row["credits_posted"],
        debits_pending=row["debits_pending"],
        credits_pending=row["credits_pending"],
        version=row["version"],
        low_balance_threshold=row["low_balance_threshold"],
        low_balance_notified=row["low_balance_notified"],
    )


def _transfer(row: asyncpg.Record) -> TransferRecord:
    data = row["user_data"]
    return TransferRecord(
        transfer_id=row["id"],
        kind=row["kind"],
        debit_account_id=row["debit_account_id"],
        credit_account_id=row["credit_account_id"],
        amount=row["amount"],
        currency=row["currency"],
        pending_id=row["pending_id"],
        timeout_at=row["timeout_at"],
        code=row["code"],
        linked_group=row["linked_group"],
        user_data=json.loads(data) if isinstance(data, str) else data,
        created_at=row["created_at"],
    )


async def load_accounts(
    conn: asyncpg.Connection, *, account_ids: Iterable[UUID]
) -> list[AccountState]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ANY($1::uuid[])",
        list(account_ids),
    )
    return [_account(r) for r in rows]


async def load_transfers(
    conn: asyncpg.Connection, *, transfer_ids: Iterable[str]
) -> dict[str, TransferRecord]:
    rows = await conn.fetch(
        f"SELECT {_TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ANY($1::text[])",
        list(transfer_ids),
    )
    return {r["id"]: _transfer(r) for r in rows}


async def load_resolutions(
    conn: asyncpg.Connection, *, pending_ids: Iterable[str]
) -> dict[str, Resolution]:
    rows = await conn.fetch(
        "SELECT pending_id, status, by_transfer_id, resolved_at FROM ledger_pending_resolutions "
        "WHERE pending_id = ANY($1::text[])",
        list(pending_ids),
    )
    return {
        r["pending_id"]: Resolution(
            r["pending_id"], r["status"], r["by_transfer_id"], r["resolved_at"]
        )
        for r in rows
    }


async def unresolved_pending(conn: asyncpg.Connection) -> list[tuple[TransferRecord, bool]]:
    """Every pending transfer not yet resolved, with whether its debit account is limited."""
    rows = await conn.fetch(
        f"""
        SELECT {", ".join("t." + c.strip() for c in _TRANSFER_COLUMNS.split(","))},
               a.debits_must_not_exceed_credits AS debit_limited
        FROM ledger_transfers t
        JOIN ledger_accounts a ON a.id = t.debit_account_id
        LEFT JOIN ledger_pending_resolutions r ON r.pending_id = t.id
        WHERE t.kind = 'pending' AND r.pending_id IS NULL
        """
    )
    return [(_transfer(r), r["debit_limited"]) for r in rows]


async def commit_ledger(
    conn: asyncpg.Connection,
    *,
    transfers: Sequence[TransferRecord],
    resolutions: Sequence[Resolution],
    deltas: dict[UUID, tuple[int, int, int, int]],
    fenced_versions: dict[UUID, int],
) -> tuple[list[AccountState], list[dict[str, Any]]]:
    """Write one batch inside the caller's transaction; returns every touched account as it
    now is, and the wallet events announced.

    Accounts are locked in id order first (no deadlocks between shards). Accounts the shard
    owns are written only if their version is the one it loaded (StaleAccount otherwise);
    other accounts only receive increments, which commute. Owners' sockets learn the new
    balances through NOTIFY, delivered after commit.
    """
    ids = sorted(deltas)
    locked = await conn.fetch(
        "SELECT id, version FROM ledger_accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
        ids,
    )
    current = {r["id"]: r["version"] for r in locked}
    for account_id, version in fenced_versions.items():
        if current.get(account_id) != version:
            raise StaleAccount(f"account {account_id} changed under its owner")
    if transfers:
        await conn.execute(
            """
            INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount,
                currency, pending_id, timeout_at, code, linked_group, user_data, created_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::bigint[],
                $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[],
                $11::jsonb[], $12::timestamptz[])
            """,
            [t.transfer_id for t in transfers],
            [t.kind for t in transfers],
            [t.debit_account_id for t in transfers],
            [t.credit_account_id for t in transfers],
            [t.amount for t in transfers],
            [t.currency for t in transfers],
            [t.pending_id for t in transfers],
            [t.timeout_at for t in transfers],
            [t.code for t in transfers],
            [t.linked_group for t in transfers],
            [json.dumps(t.user_data) if t.user_data is not None else None for t in transfers],
            [t.created_at for t in transfers],
        )
    if resolutions:
        await conn.execute(
            """
            INSERT INTO ledger_pending_resolutions (pending_id, status, by_transfer_id,
                                                    resolved_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
            """,
            [r.pending_id for r in resolutions],
            [r.status for r in resolutions],
            [r.by_transfer_id for r in resolutions],
            [r.resolved_at for r in resolutions],
        )
    rows = await conn.fetch(
        f"""
        UPDATE ledger_accounts AS a
        SET debits_posted = a.debits_posted + u.dp, credits_posted = a.credits_posted + u.cp,
            debits_pending = a.debits_pending + u.dq, credits_pending = a.credits_pending + u.cq,
            version = a.version + 1
        FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
             AS u(id, dp, cp, dq, cq)
        WHERE a.id = u.id
        RETURNING {", ".join("a." + c.strip() for c in _ACCOUNT_COLUMNS.split(","))}
        """,
        ids,
        [deltas[i][0] for i in ids],
        [deltas[i][1] for i in ids],
        [deltas[i][2] for i in ids],
        [deltas[i][3] for i in ids],
    )
    wallets = [_account(r) for r in rows]
    events: list[dict[str, Any]] = []
    for account in wallets:
        if account.owner_user_id is None and account.tenant_id is None:
            continue
        events.append(
            {
                "kind": "wallet",
                "wallet_id": str(account.account_id),
                "owner_user_id": str(account.owner_user_id) if account.owner_user_id else None,
                "tenant_id": str(account.tenant_id) if account.tenant_id else None,
                "code": account.code,
                "currency": account.currency,
                "balances": account.balances(),
                "version": account.version,
            }
        )
    # A tenant's credits crossing its low-balance threshold: once per crossing.
    flipped = await conn.fetch(
        """
        UPDATE ledger_accounts
        SET low_balance_notified = (credits_posted - debits_posted - debits_pending)
                                   < low_balance_threshold
        WHERE id = ANY($1::uuid[]) AND low_balance_threshold IS NOT NULL
          AND low_balance_notified IS DISTINCT FROM
              ((credits_posted - debits_posted - debits_pending) < low_balance_threshold)
        RETURNING id, tenant_id, currency, low_balance_notified, low_balance_threshold,
                  credits_posted - debits_posted - debits_pending AS available
        """,
        ids,
    )
    for row in flipped:
        if row["low_balance_notified"]:
            events.append(
                {
                    "kind": "credits_low",
                    "wallet_id": str(row["id"]),
                    "tenant_id": str(row["tenant_id"]) if row["tenant_id"] else None,
                    "currency": row["currency"],
                    "available": row["available"],
                    "threshold": row["low_balance_threshold"],
                }
            )
    if events:
        await conn.execute(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i",
            WALLET_CHANNEL,
            [json.dumps(e) for e in events],
        )
    return wallets, events


# -- accounts --------------------------------------------------------------------------------


async def ensure_account(
    conn: asyncpg.Connection,
    *,
    code: str,
    currency: str,
    tenant_id: UUID | None = None,
    owner_user_id: UUID | None = None,
    limited: bool = False,
    low_balance_threshold: int | None = None,
) -> UUID:
    """The account with this identity, created if missing (safe to race). Raises
    ``NotFound`` when ``tenant_id`` or ``owner_user_id`` names no tenant or user."""
    try:
        account_id = await conn.fetchval(
            """
            INSERT INTO ledger_accounts (code, currency, tenant_id, owner_user_id,
                                         debits_must_not_exceed_credits, low_balance_threshold)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT DO NOTHING RETURNING id
            """,
            code,
            currency,
            tenant_id,
            owner_user_id,
            limited,
            low_balance_threshold,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound(
            "no such tenant or user",
            {"tenant_id": _text(tenant_id), "owner_user_id": _text(owner_user_id)},
        ) from exc
    if account_id is not None:
        return account_id
    return await conn.fetchval(
        """
        SELECT id FROM ledger_accounts WHERE code = $1 AND currency = $2
          AND tenant_id IS NOT DISTINCT FROM $3 AND owner_user_id IS NOT DISTINCT FROM $4
        """,
        code,
        currency,
        tenant_id,
        owner_user_id,
    )


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


async def set_low_balance_threshold(
    conn: asyncpg.Connection, *, account_id: UUID, threshold: int | None
) -> None:
    await conn.execute(
        "UPDATE ledger_accounts SET low_balance_threshold = $2 WHERE id = $1",
        account_id,
        threshold,
    )


async def get_account(conn: asyncpg.Connection, *, account_id: UUID) -> AccountState | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1", account_id
    )
    return _account(row) if row else None


async def accounts_of_user(conn: asyncpg.Connection, *, user_id: UUID) -> list[AccountState]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE owner_user_id = $1 "
        "ORDER BY currency",
        user_id,
    )
    return [_account(r) for r in rows]


async def accounts_by_code(conn: asyncpg.Connection, *, code: str) -> list[AccountState]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE code = $1 "
        "ORDER BY tenant_id, currency",
        code,
    )
    return [_account(r) for r in rows]


async def ledger_page(
    conn: asyncpg.Connection, *, account_id: UUID, before_seq: int | None, limit: int
) -> list[dict[str, Any]]:
    """The account's transfers, newest first, as entries (debit or credit from its side)."""
    rows = await conn.fetch(
        f"""
        SELECT seq, {_TRANSFER_COLUMNS} FROM ledger_transfers
        WHERE (debit_account_id = $1 OR credit_account_id = $1)
          AND ($2::bigint IS NULL OR seq < $2)
        ORDER BY seq DESC LIMIT $3
        """,
        account_id,
        before_seq,
        limit,
    )
    out = []
    for r in rows:
        t = _transfer(r)
        out.append(
            {
                "seq": r["seq"],
                "transfer_id": t.transfer_id,
                "kind": t.kind,
                "side": "debit" if t.debit_account_id == account_id else "credit",
                "amount": t.amount,
                "currency": t.currency,
                "counterparty_account_id": str(
                    t.credit_account_id if t.debit_account_id == account_id else t.debit_account_id
                ),
                "pending_id": t.pending_id,
                "code": t.code,
                "created_at": t.created_at.isoformat(),
            }
        )
    return out


async def transfer_route(
    conn: asyncpg.Connection, *, transfer_id: str
) -> tuple[UUID, UUID, bool] | None:
    """(debit account, credit account, debit limited) of a transfer, for routing post/void."""
    row = await conn.fetchrow(
        "SELECT t.debit_account_id, t.credit_account_id, a.debits_must_not_exceed_credits AS lim "
        "FROM ledger_transfers t JOIN ledger_accounts a ON a.id = t.debit_account_id "
        "WHERE t.id = $1",
        transfer_id,
    )
    if row is None:
        return None
    return row["debit_account_id"], row["credit_account_id"], row["lim"]
