"""Every invariant of the hub, checked against the database (``seva verify``, tests).

One function per check: each returns its findings, one dict per violation (empty when the
invariant holds). ``verify_all`` runs them in one read-only repeatable-read transaction, so
they see one snapshot, then ``storage.ledger_verify`` for the ledger (a snapshot of its own:
on a database under load, a payment checked in the first may have its ledger transfers
checked in the second; each snapshot is consistent in itself).

Things still in flight are not violations: an outbox event, a feed event or a captured
payment younger than ``grace_secs`` may not have been handled yet; a delivery may be due or
leased up to ``grace_secs`` ago.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from storage.ledger_verify import verify_ledger

DETAILS_KEPT = 5

Finding = dict[str, Any]


def _rows(rows: list[asyncpg.Record]) -> list[Finding]:
    return [
        {k: (v if isinstance(v, int | bool) or v is None else str(v)) for k, v in r.items()}
        for r in rows
    ]


# -- slots ---------------------------------------------------------------------------------------


async def check_slots_within_capacity(conn: asyncpg.Connection) -> list[Finding]:
    """No slot has confirmed + held quantity above its capacity."""
    return _rows(
        await conn.fetch(
            "SELECT id AS slot_id, capacity, held_qty, confirmed_qty FROM slots "
            "WHERE held_qty + confirmed_qty > capacity ORDER BY id"
        )
    )


async def check_slot_counters_match_holds(conn: asyncpg.Connection) -> list[Finding]:
    """A slot's held_qty / confirmed_qty equal the sum of its holds' qty in that status."""
    return _rows(
        await conn.fetch(
            """
            SELECT s.id AS slot_id, s.held_qty, coalesce(h.held, 0) AS holds_held,
                   s.confirmed_qty, coalesce(h.confirmed, 0) AS holds_confirmed
            FROM slots s
            LEFT JOIN (
                SELECT tenant_id, slot_id,
                       sum(qty) FILTER (WHERE status = 'held') AS held,
                       sum(qty) FILTER (WHERE status = 'confirmed') AS confirmed
                FROM holds GROUP BY tenant_id, slot_id
            ) h ON h.tenant_id = s.tenant_id AND h.slot_id = s.id
            WHERE s.held_qty <> coalesce(h.held, 0)
               OR s.confirmed_qty <> coalesce(h.confirmed, 0)
            ORDER BY s.id
            """
        )
    )


# -- payments ------------------------------------------------------------------------------------

# Everything counted against an intent's capture (and in its refunded_paise): its gateway
# refunds that did not fail, the wallet refund decided when the booking it paid was cancelled
# (the hold it paid for, or the hold re-made for it after expiry, ``repay:<intent>``), and the
# wallet refund of a gateway split share when its booking was cancelled (the ledger transfer
# ``cancel:<hold>:<user>``).
_REFUNDS_BY_INTENT = """
    WITH refunds AS (
        SELECT intent_id, sum(amount_paise)::bigint AS refunds_paise FROM (
            SELECT intent_id, amount_paise FROM payment_refunds WHERE status <> 'failed'
            UNION ALL
            SELECT p.id, c.refund_paise FROM payment_intents p
            JOIN holds h ON h.tenant_id = p.tenant_id AND h.user_id = p.user_id
                        AND (h.id = p.hold_id OR h.idempotency_key = 'repay:' || p.id::text)
            JOIN booking_cancellations c ON c.hold_id = h.id
            WHERE p.purpose = 'hold' AND p.status = 'captured' AND c.refunded_to = 'wallet'
            UNION ALL
            SELECT s.intent_id, t.amount FROM split_shares s
            JOIN ledger_transfers t ON t.id = 'cancel:' || s.hold_id::text || ':' || s.user_id::text
            WHERE s.intent_id IS NOT NULL
        ) r GROUP BY intent_id
    )
"""


async def check_refunds_within_capture(conn: asyncpg.Connection) -> list[Finding]:
    """No intent has more refunded (gateway refunds that did not fail, and wallet refunds of
    cancelled bookings it paid) than it captured."""
    return _rows(
        await conn.fetch(
            _REFUNDS_BY_INTENT
            + """
            SELECT p.id AS intent_id, p.captured_paise, r.refunds_paise
            FROM payment_intents p JOIN refunds r ON r.intent_id = p.id
            WHERE r.refunds_paise > p.captured_paise ORDER BY p.id
            """
        )
    )


async def check_refunded_matches_refunds(conn: asyncpg.Connection) -> list[Finding]:
    """An intent's refunded_paise counter equals what was refunded of it (as above)."""
    return _rows(
        await conn.fetch(
            _REFUNDS_BY_INTENT
            + """
            SELECT p.id AS intent_id, p.refunded_paise,
                   coalesce(r.refunds_paise, 0) AS refunds_paise
            FROM payment_intents p LEFT JOIN refunds r ON r.intent_id = p.id
            WHERE p.refunded_paise <> coalesce(r.refunds_paise, 0) ORDER BY p.id
            """
        )
    )


async def check_captured_payments_have_outcome(
    conn: asyncpg.Connection, *, grace_secs: float
) -> list[Finding]:
    """Every captured intent (older than the grace) has an outcome, except a split share
    whose split is still collecting shares (its outcome is decided when the split settles)."""
    return _rows(
        await conn.fetch(
            """
            SELECT p.id AS intent_id, p.purpose, p.captured_paise FROM payment_intents p
            WHERE p.status = 'captured' AND p.outcome IS NULL
              AND p.updated_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (
                  SELECT 1 FROM split_shares sh JOIN split_payments sp ON sp.hold_id = sh.hold_id
                  WHERE sh.intent_id = p.id AND sh.status = 'paid'
                    AND sp.status IN ('open', 'confirming')
              )
            ORDER BY p.id
            """,
            grace_secs,
        )
    )


async def check_payment_outcomes_fulfilled(conn: asyncpg.Connection) -> list[Finding]:
    """Each captured intent's outcome is backed by what it paid for:

    - ``booking_confirmed``: a ``hold`` intent's hold (or the hold re-made for it after the
      first expired, ``repay:<intent>``) is confirmed (or cancelled later), a
      ``booking_group`` intent is its group's confirmed payment, a ``split_share`` intent is
      a settled (or later refunded) share; a ``wallet_topup`` never.
    - ``wallet_credited``: only a ``wallet_topup``, with its ledger credit ``pay:<id>:topup``.
    - ``refunded_unfulfillable``: at least one refund that did not fail.
    """
    return _rows(
        await conn.fetch(
            """
            SELECT p.id AS intent_id, p.purpose, p.outcome FROM payment_intents p
            LEFT JOIN (
                SELECT intent_id, sum(amount_paise) AS refunds_paise, count(*) AS refunds
                FROM payment_refunds WHERE status <> 'failed' GROUP BY intent_id
            ) r ON r.intent_id = p.id
            WHERE p.status = 'captured' AND p.outcome IS NOT NULL AND NOT (
                CASE p.outcome
                WHEN 'booking_confirmed' THEN CASE p.purpose
                    WHEN 'hold' THEN EXISTS (
                        SELECT 1 FROM holds h
                        WHERE h.tenant_id = p.tenant_id AND h.user_id = p.user_id
                          AND (h.id = p.hold_id OR h.idempotency_key = 'repay:' || p.id::text)
                          AND h.status IN ('confirmed', 'cancelled'))
                    WHEN 'booking_group' THEN EXISTS (
                        SELECT 1 FROM group_payments g
                        WHERE g.intent_id = p.id AND g.status = 'confirmed')
                    WHEN 'split_share' THEN EXISTS (
                        SELECT 1 FROM split_shares sh
                        WHERE sh.intent_id = p.id AND sh.status IN ('settled', 'refunded'))
                    ELSE false END
                WHEN 'wallet_credited' THEN p.purpose = 'wallet_topup' AND EXISTS (
                    SELECT 1 FROM ledger_transfers t WHERE t.id = 'pay:' || p.id || ':topup')
                WHEN 'refunded_unfulfillable' THEN coalesce(r.refunds, 0) > 0
                ELSE false END
            )
            ORDER BY p.id
            """
        )
    )


# -- streams -------------------------------------------------------------------------------------


async def check_availability_seq_gap_free(conn: asyncpg.Connection) -> list[Finding]:
    """Each availability stream's kept events (old ones may be pruned) are contiguous up to
    its highest seq."""
    return _rows(
        await conn.fetch(
            """
            SELECT stream, min(seq) AS min_seq, max(seq) AS max_seq, count(*) AS kept
            FROM availability_events GROUP BY stream
            HAVING count(*) <> max(seq) - min(seq) + 1 ORDER BY stream
            """
        )
    )


async def check_feed_seq_gap_free(conn: asyncpg.Connection) -> list[Finding]:
    """Each feed stream's kept events are contiguous and end exactly at its head (no event
    above the head, none missing below it); a stream whose events were all pruned is fine."""
    return _rows(
        await conn.fetch(
            """
            SELECT e.stream, e.min_seq, e.max_seq, e.kept, h.seq AS head_seq
            FROM (
                SELECT stream, min(seq) AS min_seq, max(seq) AS max_seq, count(*) AS kept
                FROM feed_events GROUP BY stream
            ) e LEFT JOIN feed_heads h ON h.stream = e.stream
            WHERE h.seq IS NULL OR e.max_seq <> h.seq
               OR e.kept <> e.max_seq - e.min_seq + 1
            ORDER BY e.stream
            """
        )
    )


# -- outbox --------------------------------------------------------------------------------------


async def check_outbox_dispatched(conn: asyncpg.Connection, *, grace_secs: float) -> list[Finding]:
    """Every outbox event older than the grace was dispatched."""
    return _rows(
        await conn.fetch(
            "SELECT id AS outbox_id, type, created_at FROM outbox_events "
            "WHERE dispatched_at IS NULL AND created_at < now() - make_interval(secs => $1) "
            "ORDER BY id",
            grace_secs,
        )
    )


async def check_deliveries_settled(conn: asyncpg.Connection, *, grace_secs: float) -> list[Finding]:
    """Every delivery is final (sent, dead, skipped_insufficient_credits), or queued/failed
    and not overdue by more than the grace, or sending within its lease plus the grace."""
    return _rows(
        await conn.fetch(
            """
            SELECT id AS delivery_id, channel, status, next_attempt_at, lease_until
            FROM deliveries
            WHERE (status IN ('queued', 'failed')
                   AND next_attempt_at < now() - make_interval(secs => $1))
               OR (status = 'sending'
                   AND coalesce(lease_until, updated_at) < now() - make_interval(secs => $1))
            ORDER BY id
            """,
            grace_secs,
        )
    )


async def check_feed_events_published(
    conn: asyncpg.Connection, *, grace_secs: float
) -> list[Finding]:
    """Every feed event older than the grace was published (else it is stuck)."""
    return _rows(
        await conn.fetch(
            "SELECT id AS feed_event_id, stream, seq, created_at FROM feed_events "
            "WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1) "
            "ORDER BY id",
            grace_secs,
        )
    )


# -- all together --------------------------------------------------------------------------------


async def verify_all(conn: asyncpg.Connection, *, grace_secs: float = 60.0) -> dict[str, Any]:
    """``{"violations": N, "checks": {name: {"ok", "violations", "details"}}}``; details
    hold the first few findings of each check. Ledger checks are prefixed ``ledger_``."""

    def graced(
        check: Callable[..., Awaitable[list[Finding]]],
    ) -> Callable[[asyncpg.Connection], Awaitable[list[Finding]]]:
        return lambda c: check(c, grace_secs=grace_secs)

    checks: dict[str, Callable[[asyncpg.Connection], Awaitable[list[Finding]]]] = {
        "slots_within_capacity": check_slots_within_capacity,
        "slot_counters_match_holds": check_slot_counters_match_holds,
        "refunds_within_capture": check_refunds_within_capture,
        "refunded_matches_refunds": check_refunded_matches_refunds,
        "captured_payments_have_outcome": graced(check_captured_payments_have_outcome),
        "payment_outcomes_fulfilled": check_payment_outcomes_fulfilled,
        "availability_seq_gap_free": check_availability_seq_gap_free,
        "feed_seq_gap_free": check_feed_seq_gap_free,
        "outbox_dispatched": graced(check_outbox_dispatched),
        "deliveries_settled": graced(check_deliveries_settled),
        "feed_events_published": graced(check_feed_events_published),
    }
    report: dict[str, Any] = {}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for name, check in checks.items():
            report[name] = _summary(await check(conn))
    ledger = await verify_ledger(conn)
    for name, result in ledger["checks"].items():
        report[f"ledger_{name}"] = _summary(result["rows"], count=result["violations"])
    total = sum(c["violations"] for c in report.values())
    return {"violations": total, "checks": report}


def _summary(findings: list[Finding], *, count: int | None = None) -> dict[str, Any]:
    n = len(findings) if count is None else count
    return {"ok": n == 0, "violations": n, "details": findings[:DETAILS_KEPT]}
