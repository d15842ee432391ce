"""A tenant's consultation settings and the fees charged for reschedules past the free ones.
Every function takes the connection and ``tenant_id``; call them inside ``tenant_scope``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

FeeState = Literal["reserved", "posted", "voided"]


@dataclass(frozen=True)
class ConsultationSettings:
    tenant_id: UUID
    meeting_base_url: str | None
    reschedule_fee_paise: int
    free_reschedules: int

    def wire(self) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "meeting_base_url": self.meeting_base_url,
            "reschedule_fee_paise": self.reschedule_fee_paise,
            "free_reschedules": self.free_reschedules,
        }


@dataclass(frozen=True)
class RescheduleContext:
    """What decides a move's fee: the booking's owner, how many moves it had under other keys,
    whether this key already moved it, and the fee row of this key if one was made."""

    owner_user_id: UUID
    moves_before: int
    key_moved: bool
    fee: RescheduleFee | None


@dataclass(frozen=True)
class RescheduleFee:
    hold_id: UUID
    idempotency_key: str
    user_id: UUID
    fee_paise: int
    transfer_id: str
    state: FeeState


async def get_settings(conn: asyncpg.Connection, *, tenant_id: UUID) -> ConsultationSettings:
    """The tenant's settings, or the defaults (no fee, one free reschedule)."""
    row = await conn.fetchrow(
        "SELECT meeting_base_url, reschedule_fee_paise, free_reschedules "
        "FROM consultation_settings WHERE tenant_id = $1",
        tenant_id,
    )
    if row is None:
        return ConsultationSettings(tenant_id, None, 0, 1)
    return ConsultationSettings(
        tenant_id, row["meeting_base_url"], row["reschedule_fee_paise"], row["free_reschedules"]
    )


async def put_settings(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    meeting_base_url: str | None,
    reschedule_fee_paise: int,
    free_reschedules: int,
) -> ConsultationSettings:
    await conn.execute(
        """
        INSERT INTO consultation_settings (tenant_id, meeting_base_url, reschedule_fee_paise,
                                           free_reschedules)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (tenant_id) DO UPDATE
        SET meeting_base_url = EXCLUDED.meeting_base_url,
            reschedule_fee_paise = EXCLUDED.reschedule_fee_paise,
            free_reschedules = EXCLUDED.free_reschedules, updated_at = now()
        """,
        tenant_id,
        meeting_base_url,
        reschedule_fee_paise,
        free_reschedules,
    )
    return ConsultationSettings(tenant_id, meeting_base_url, reschedule_fee_paise, free_reschedules)


async def reschedule_context(
    conn: asyncpg.Connection, *, tenant_id: UUID, booking_id: UUID, idempotency_key: str
) -> RescheduleContext | None:
    """None if the tenant has no such booking."""
    row = await conn.fetchrow(
        """
        SELECT h.user_id,
               (SELECT count(*) FROM booking_reschedules r
                WHERE r.hold_id = h.id AND r.idempotency_key <> $3) AS moves_before,
               EXISTS (SELECT 1 FROM booking_reschedules r
                       WHERE r.hold_id = h.id AND r.idempotency_key = $3) AS key_moved
        FROM holds h WHERE h.tenant_id = $1 AND h.id = $2
        """,
        tenant_id,
        booking_id,
        idempotency_key,
    )
    if row is None:
        return None
    fee = await conn.fetchrow(
        "SELECT hold_id, idempotency_key, user_id, fee_paise, transfer_id, state "
        "FROM reschedule_fees WHERE tenant_id = $1 AND hold_id = $2 AND idempotency_key = $3",
        tenant_id,
        booking_id,
        idempotency_key,
    )
    return RescheduleContext(
        owner_user_id=row["user_id"],
        moves_before=int(row["moves_before"]),
        key_moved=bool(row["key_moved"]),
        fee=_fee(fee) if fee is not None else None,
    )


async def insert_fee(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    hold_id: UUID,
    idempotency_key: str,
    user_id: UUID,
    fee_paise: int,
    transfer_id: str,
) -> RescheduleFee:
    """The fee row of this move (the one already there if a racing request made it first)."""
    row = await conn.fetchrow(
        """
        WITH i AS (
            INSERT INTO reschedule_fees (hold_id, tenant_id, idempotency_key, user_id, fee_paise,
                                         transfer_id)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (hold_id, idempotency_key) DO NOTHING
            RETURNING hold_id, idempotency_key, user_id, fee_paise, transfer_id, state
        )
        SELECT * FROM i
        UNION ALL
        SELECT hold_id, idempotency_key, user_id, fee_paise, transfer_id, state
        FROM reschedule_fees WHERE hold_id = $1 AND idempotency_key = $3
        LIMIT 1
        """,
        hold_id,
        tenant_id,
        idempotency_key,
        user_id,
        fee_paise,
        transfer_id,
    )
    return _fee(row)


async def set_fee_state(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID, idempotency_key: str, state: str
) -> None:
    await conn.execute(
        "UPDATE reschedule_fees SET state = $4 "
        "WHERE tenant_id = $1 AND hold_id = $2 AND idempotency_key = $3",
        tenant_id,
        hold_id,
        idempotency_key,
        state,
    )


async def delete_fee(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_id: UUID, idempotency_key: str
) -> None:
    """Forget a fee whose reservation never happened or was voided (a retry of the same key
    makes a new one)."""
    await conn.execute(
        "DELETE FROM reschedule_fees WHERE tenant_id = $1 AND hold_id = $2 "
        "AND idempotency_key = $3 AND state <> 'posted'",
        tenant_id,
        hold_id,
        idempotency_key,
    )


def _fee(row: asyncpg.Record) -> RescheduleFee:
    return RescheduleFee(
        row["hold_id"],
        row["idempotency_key"],
        row["user_id"],
        row["fee_paise"],
        row["transfer_id"],
        row["state"],
    )
