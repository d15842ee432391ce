"""The ledger's invariants, checked against the database (``seva ledger verify``, tests)."""

from __future__ import annotations

from typing import Any

import asyncpg

_CHECKS: dict[str, str] = {
    # 1. Sum of all debits equals sum of all credits, per currency (posted and pending).
    "debits_equal_credits": """
        SELECT currency, sum(debits_posted) AS dp, sum(credits_posted) AS cp,
               sum(debits_pending) AS dq, sum(credits_pending) AS cq
        FROM ledger_accounts GROUP BY currency
        HAVING sum(debits_posted) <> sum(credits_posted)
            OR sum(debits_pending) <> sum(credits_pending)
    """,
    # 2a. Every stored balance equals the sum of the account's entries.
    "balances_match_entries": """
        WITH posted AS (
            SELECT account_id, sum(d) AS d, sum(c) AS c FROM (
                SELECT debit_account_id AS account_id, amount AS d, 0 AS c
                FROM ledger_transfers WHERE kind IN ('single', 'post')
                UNION ALL
                SELECT credit_account_id, 0, amount
                FROM ledger_transfers WHERE kind IN ('single', 'post')
            ) e GROUP BY account_id
        ), pending AS (
            SELECT account_id, sum(d) AS d, sum(c) AS c FROM (
                SELECT t.debit_account_id AS account_id, t.amount AS d, 0 AS c
                FROM ledger_transfers t
                LEFT JOIN ledger_pending_resolutions r ON r.pending_id = t.id
                WHERE t.kind = 'pending' AND r.pending_id IS NULL
                UNION ALL
                SELECT t.credit_account_id, 0, t.amount
                FROM ledger_transfers t
                LEFT JOIN ledger_pending_resolutions r ON r.pending_id = t.id
                WHERE t.kind = 'pending' AND r.pending_id IS NULL
            ) e GROUP BY account_id
        )
        SELECT a.id, a.debits_posted, coalesce(p.d, 0) AS entries_debits,
               a.credits_posted, coalesce(p.c, 0) AS entries_credits,
               a.debits_pending, coalesce(q.d, 0) AS entries_debits_pending,
               a.credits_pending, coalesce(q.c, 0) AS entries_credits_pending
        FROM ledger_accounts a
        LEFT JOIN posted p ON p.account_id = a.id
        LEFT JOIN pending q ON q.account_id = a.id
        WHERE a.debits_posted <> coalesce(p.d, 0) OR a.credits_posted <> coalesce(p.c, 0)
           OR a.debits_pending <> coalesce(q.d, 0) OR a.credits_pending <> coalesce(q.c, 0)
    """,
    # 2b. No limited account is overdrawn.
    "no_limited_account_negative": """
        SELECT id, debits_posted, debits_pending, credits_posted FROM ledger_accounts
        WHERE debits_must_not_exceed_credits
          AND debits_posted + debits_pending > credits_posted
    """,
    # 3a. Every post or void refers to a pending transfer, and each pending one is resolved at
    #     most once (the resolution table's primary key) by a transfer that points back at it.
    "pending_resolved_at_most_once": """
        SELECT t.pending_id, count(*) AS resolutions FROM ledger_transfers t
        WHERE t.kind IN ('post', 'void') GROUP BY t.pending_id HAVING count(*) > 1
        UNION ALL
        SELECT t.id, 0 FROM ledger_transfers t
        JOIN ledger_transfers p ON p.id = t.pending_id
        WHERE t.kind IN ('post', 'void') AND p.kind <> 'pending'
    """,
    # 3b. Posts never exceed what was reserved, and every resolution names its transfer.
    "posts_within_pending": """
        SELECT t.id, t.amount, p.amount AS pending_amount FROM ledger_transfers t
        JOIN ledger_transfers p ON p.id = t.pending_id
        WHERE t.kind = 'post' AND t.amount > p.amount
        UNION ALL
        SELECT r.pending_id, 0, 0 FROM ledger_pending_resolutions r
        LEFT JOIN ledger_transfers t ON t.id = r.by_transfer_id
        WHERE r.status IN ('posted', 'voided')
          AND (t.id IS NULL OR t.pending_id IS DISTINCT FROM r.pending_id)
    """,
}


async def verify_ledger(conn: asyncpg.Connection) -> dict[str, Any]:
    """``{"violations": N, "checks": {name: {"ok": bool, "violations": n, "rows": [...]}}}``
    (the first 20 rows). Transfer ids are the primary key, so "no transfer applied twice" is
    enforced by the schema itself."""
    checks: dict[str, Any] = {}
    total = 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for name, sql in _CHECKS.items():
            rows = await conn.fetch(sql)
            total += len(rows)
            checks[name] = {
                "ok": not rows,
                "violations": len(rows),
                "rows": [{k: str(v) for k, v in dict(r).items()} for r in rows[:20]],
            }
    return {"violations": total, "checks": checks}
