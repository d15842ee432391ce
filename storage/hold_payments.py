"""The record of wallet payments for slot holds (a two-actor saga; see migration 0005)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class HoldForPayment:
    """A hold with what paying for it needs (both wallet and gateway payments read this)."""

    hold_id: UUID
    tenant_id: UUID
    user_id: UUID
    slot_id: UUID
    status: str
    qty: int
    price_paise: int
    expires_at: datetime

    @property
    def amount_paise(self) -> int:
        return self.price_paise * self.qty


@dataclass(frozen=True)
class HoldPayment:
    hold_id: UUID
    tenant_id: UUID
    user_id: UUID
    wallet_id: UUID
    amount_paise: int
    pending_id: str
    state: str


async def hold_for_payment(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID
) -> HoldForPayment | None:
    row = await conn.fetchrow(
        """
        SELECT h.id, h.tenant_id, h.user_id, h.slot_id, h.status, h.qty, s.price_paise,
               h.expires_at
        FROM holds h JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
        WHERE h.tenant_id = $1 AND h.id = $2
        """,
        tenant_id,
        hold_id,
    )
    if row is None:
        return None
    return HoldForPayment(
        hold_id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        slot_id=row["slot_id"],
        status=row["status"],
        qty=row["qty"],
        price_paise=row["price_paise"],
        expires_at=row["expires_at"],
    )


def _payment(row: asyncpg.Record) -> HoldPayment:
    return HoldPayment(
        hold_id=row["hold_id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        wallet_id=row["wallet_id"],
        amount_paise=row["amount_paise"],
        pending_id=row["pending_id"],
        state=row["state"],
    )


async def record_reserved(
    conn: asyncpg.Connection,
    *,
    hold_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    wallet_id: UUID,
    amount_paise: int,
    pending_id: str,
) -> HoldPayment:
    """The payment of this hold, recorded now as reserved or as it already was."""
    await conn.execute(
        """
        INSERT INTO hold_payments (hold_id, tenant_id, user_id, wallet_id, amount_paise,
                                   pending_id, state)
        VALUES ($1, $2, $3, $4, $5, $6, 'reserved') ON CONFLICT (hold_id) DO NOTHING
        """,
        hold_id,
        tenant_id,
        user_id,
        wallet_id,
        amount_paise,
        pending_id,
    )
    row = await conn.fetchrow("SELECT * FROM hold_payments WHERE hold_id = $1", hold_id)
    assert row is not None
    return _payment(row)


async def mark(conn: asyncpg.Connection, *, hold_id: UUID, state: str) -> None:
    await conn.execute(
        "UPDATE hold_payments SET state = $2, updated_at = now() WHERE hold_id = $1 "
        "AND state = 'reserved'",
        hold_id,
        state,
    )


async def open_payments(
    conn: asyncpg.Connection, *, older_than_secs: float, limit: int = 200
) -> list[tuple[HoldPayment, str]]:
    """Reserved payments not finished for a while, with their hold's current status."""
    rows = await conn.fetch(
        """
        SELECT p.*, h.status AS hold_status FROM hold_payments p
        JOIN holds h ON h.id = p.hold_id
        WHERE p.state = 'reserved' AND p.created_at < now() - make_interval(secs => $1)
        ORDER BY p.created_at LIMIT $2
        """,
        older_than_secs,
        limit,
    )
    return [(_payment(r), r["hold_status"]) for r in rows]
