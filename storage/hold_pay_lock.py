"""One way to pay a hold: whole (``hold:pay`` from a wallet, a gateway payment with purpose
``hold``) or in shares (a split) — never both.

Each way records its marker (a ``hold_payments`` row, a ``payment_intents`` row, a
``split_payments`` row) in a transaction that first takes this lock and then checks that the
other way has no live marker. The lock serializes those transactions per hold, so the second
one sees the first one's committed marker and refuses: a ``hold:pay`` arriving just as a split
is created (or confirms) cannot slip between the check and the write.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

# The first key of the two-key advisory lock (its key space is apart from one-key locks).
HOLD_PAY_LOCK_CLASS = 0x5E5A_0001


async def lock_hold_payment(conn: asyncpg.Connection, *, hold_id: UUID) -> None:
    """Take the hold's payment lock until the caller's transaction ends (must be in one)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", HOLD_PAY_LOCK_CLASS, str(hold_id)
    )
