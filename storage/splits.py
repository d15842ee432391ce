"""Split payments of a court hold (migration 0018): the split row is the saga's lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class Split:
    hold_id: UUID
    tenant_id: UUID
    booker_user_id: UUID
    amount_paise: int
    status: str
    idempotency_key: str
    expires_at: datetime


@dataclass(frozen=True)
class Share:
    hold_id: UUID
    user_id: UUID
    position: int
    amount_paise: int
    status: str
    method: str | None
    pending_id: str | None
    intent_id: UUID | None


def _split(row: asyncpg.Record) -> Split:
    return Split(
        hold_id=row["hold_id"],
        tenant_id=row["tenant_id"],
        booker_user_id=row["booker_user_id"],
        amount_paise=row["amount_paise"],
        status=row["status"],
        idempotency_key=row["idempotency_key"],
        expires_at=row["expires_at"],
    )


def _share(row: asyncpg.Record) -> Share:
    return Share(
        hold_id=row["hold_id"],
        user_id=row["user_id"],
        position=row["position"],
        amount_paise=row["amount_paise"],
        status=row["status"],
        method=row["method"],
        pending_id=row["pending_id"],
        intent_id=row["intent_id"],
    )


async def insert_split(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    hold_id: UUID,
    booker_user_id: UUID,
    amount_paise: int,
    idempotency_key: str,
    expires_at: datetime,
    shares: list[tuple[UUID, int]],
) -> bool:
    """The split and its shares (``shares[0]`` is the booker's); False if the hold has one."""
    made = await conn.fetchval(
        """
        INSERT INTO split_payments (hold_id, tenant_id, booker_user_id, amount_paise, status,
                                    idempotency_key, expires_at)
        VALUES ($1, $2, $3, $4, 'open', $5, $6) ON CONFLICT (hold_id) DO NOTHING
        RETURNING true
        """,
        hold_id,
        tenant_id,
        booker_user_id,
        amount_paise,
        idempotency_key,
        expires_at,
    )
    if not made:
        return False
    await conn.executemany(
        "INSERT INTO split_shares (hold_id, tenant_id, user_id, position, amount_paise, status) "
        "VALUES ($1, $2, $3, $4, $5, 'pending')",
        [(hold_id, tenant_id, user, i, amount) for i, (user, amount) in enumerate(shares)],
    )
    return True


async def get_split(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID, for_update: bool = False
) -> Split | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        "SELECT * FROM split_payments WHERE tenant_id = $1 AND hold_id = $2" + lock,
        tenant_id,
        hold_id,
    )
    return _split(row) if row is not None else None


async def shares_of(conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID) -> list[Share]:
    rows = await conn.fetch(
        "SELECT * FROM split_shares WHERE tenant_id = $1 AND hold_id = $2 ORDER BY position",
        tenant_id,
        hold_id,
    )
    return [_share(r) for r in rows]


async def mark_paid(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    hold_id: UUID,
    user_id: UUID,
    method: str,
    pending_id: str | None = None,
    intent_id: UUID | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE split_shares SET status = 'paid', method = $4, pending_id = $5, intent_id = $6,
               paid_at = now(), updated_at = now()
        WHERE tenant_id = $1 AND hold_id = $2 AND user_id = $3 AND status = 'pending'
        """,
        tenant_id,
        hold_id,
        user_id,
        method,
        pending_id,
        intent_id,
    )


async def finish_share(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID, user_id: UUID, status: str
) -> None:
    """A paid share is ``settled`` (money posted / booked) or ``refunded``."""
    await conn.execute(
        "UPDATE split_shares SET status = $4, updated_at = now() "
        "WHERE tenant_id = $1 AND hold_id = $2 AND user_id = $3 AND status = 'paid'",
        tenant_id,
        hold_id,
        user_id,
        status,
    )


async def set_status(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID, status: str
) -> None:
    await conn.execute(
        "UPDATE split_payments SET status = $3, updated_at = now() "
        "WHERE tenant_id = $1 AND hold_id = $2",
        tenant_id,
        hold_id,
        status,
    )


async def hold_status(conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM holds WHERE tenant_id = $1 AND id = $2", tenant_id, hold_id
    )
    return status


async def unsettled(conn: asyncpg.Connection, *, limit: int = 200) -> list[tuple[UUID, UUID]]:
    """``(tenant_id, hold_id)`` of splits with work left: being confirmed or cancelled, open
    past their hold's expiry (or with the hold gone), or confirmed with shares not posted."""
    rows = await conn.fetch(
        """
        SELECT p.tenant_id, p.hold_id FROM split_payments p JOIN holds h ON h.id = p.hold_id
        WHERE p.status IN ('confirming', 'cancelling')
           OR (p.status = 'open' AND (p.expires_at <= now() OR h.status <> 'held'))
           OR (p.status IN ('confirmed', 'cancelled') AND EXISTS (
                 SELECT 1 FROM split_shares s WHERE s.hold_id = p.hold_id AND s.status = 'paid'))
        ORDER BY p.expires_at LIMIT $1
        """,
        limit,
    )
    return [(r["tenant_id"], r["hold_id"]) for r in rows]


async def has_live_split(conn: asyncpg.Connection, *, hold_id: UUID) -> bool:
    """Whether the hold is being (or was) paid in shares: it must not be paid whole too."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM split_payments WHERE hold_id = $1 "
        "AND status NOT IN ('cancelling', 'cancelled'))",
        hold_id,
    )
    return found


async def paid_whole(conn: asyncpg.Connection, *, hold_id: UUID) -> bool:
    """Whether the hold is already being paid whole (from a wallet or at a gateway)."""
    found: bool = await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM hold_payments WHERE hold_id = $1 AND state <> 'voided')
            OR EXISTS (SELECT 1 FROM payment_intents WHERE hold_id = $1 AND status <> 'failed')
        """,
        hold_id,
    )
    return found


async def add_members(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID, user_ids: list[UUID]
) -> None:
    """Players become the booking's member accounts (they follow its live status)."""
    await conn.executemany(
        "INSERT INTO booking_members (hold_id, tenant_id, user_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        [(hold_id, tenant_id, u) for u in user_ids],
    )


async def resolve_players(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    user_ids: list[UUID],
    phones: list[str],
    emails: list[str],
) -> list[UUID | None]:
    """The tenant's users named by id, phone or email, in that order (None: no such user)."""
    found: list[UUID | None] = []
    for user_id in user_ids:
        found.append(
            await conn.fetchval(
                "SELECT id FROM users WHERE tenant_id = $1 AND id = $2", tenant_id, user_id
            )
        )
    for phone in phones:
        found.append(
            await conn.fetchval(
                "SELECT id FROM users WHERE tenant_id = $1 AND phone = $2", tenant_id, phone
            )
        )
    for email in emails:
        found.append(
            await conn.fetchval(
                "SELECT id FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)",
                tenant_id,
                email,
            )
        )
    return found
