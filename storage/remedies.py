"""Remedies an astrologer assigns to a client, and the cancellation of their daily reminders
(``scheduled_messages`` with purpose ``remedy`` and ``data.remedy_id``) when completed. Every
function takes the connection and ``tenant_id``; call them inside ``tenant_scope``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

_COLUMNS = (
    "id, tenant_id, astrologer_user_id, client_user_id, booking_id, type, instructions, "
    "duration_days, reminders, daily_at, idempotency_key, status, feedback, rating, created_at, "
    "completed_at"
)


@dataclass(frozen=True)
class Remedy:
    remedy_id: UUID
    tenant_id: UUID
    astrologer_user_id: UUID
    client_user_id: UUID
    booking_id: UUID | None
    type: str
    instructions: str
    duration_days: int
    reminders: bool
    daily_at: str | None
    idempotency_key: str
    status: str
    feedback: str | None
    rating: int | None
    created_at: datetime
    completed_at: datetime | None

    def wire(self) -> dict[str, Any]:
        return {
            "remedy_id": str(self.remedy_id),
            "astrologer_user_id": str(self.astrologer_user_id),
            "client_user_id": str(self.client_user_id),
            "booking_id": str(self.booking_id) if self.booking_id else None,
            "type": self.type,
            "instructions": self.instructions,
            "duration_days": self.duration_days,
            "reminders": self.reminders,
            "daily_at": self.daily_at,
            "status": self.status,
            "feedback": self.feedback,
            "rating": self.rating,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


async def insert(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    remedy_id: UUID,
    astrologer_user_id: UUID,
    client_user_id: UUID,
    booking_id: UUID | None,
    type: str,
    instructions: str,
    duration_days: int,
    reminders: bool,
    daily_at: str | None,
    idempotency_key: str,
) -> tuple[Remedy, bool]:
    """The astrologer's remedy of this key: made now or before (returns (it, made))."""
    made = await conn.fetchval(
        """
        INSERT INTO remedies (id, tenant_id, astrologer_user_id, client_user_id, booking_id, type,
                              instructions, duration_days, reminders, daily_at, idempotency_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (tenant_id, astrologer_user_id, idempotency_key) DO NOTHING
        RETURNING id
        """,
        remedy_id,
        tenant_id,
        astrologer_user_id,
        client_user_id,
        booking_id,
        type,
        instructions,
        duration_days,
        reminders,
        daily_at,
        idempotency_key,
    )
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM remedies "
        "WHERE tenant_id = $1 AND astrologer_user_id = $2 AND idempotency_key = $3",
        tenant_id,
        astrologer_user_id,
        idempotency_key,
    )
    return _remedy(row), made is not None


async def get(
    conn: asyncpg.Connection, *, tenant_id: UUID, remedy_id: UUID, for_update: bool = False
) -> Remedy | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM remedies WHERE tenant_id = $1 AND id = $2"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
        remedy_id,
    )
    return _remedy(row) if row is not None else None


async def list_for(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    client_user_id: UUID | None = None,
    astrologer_user_id: UUID | None = None,
    limit: int,
) -> list[Remedy]:
    """Newest first, of one client or one astrologer (or the tenant's with neither)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM remedies WHERE tenant_id = $1 "
        "AND ($2::uuid IS NULL OR client_user_id = $2) "
        "AND ($3::uuid IS NULL OR astrologer_user_id = $3) "
        "ORDER BY created_at DESC, id LIMIT $4",
        tenant_id,
        client_user_id,
        astrologer_user_id,
        limit,
    )
    return [_remedy(r) for r in rows]


async def complete(
    conn: asyncpg.Connection, *, tenant_id: UUID, remedy_id: UUID, rating: int, feedback: str | None
) -> Remedy | None:
    """Mark it completed and cancel its reminders still scheduled; None if it was already
    completed."""
    row = await conn.fetchrow(
        f"""
        UPDATE remedies SET status = 'completed', completed_at = now(), rating = $3,
                            feedback = $4
        WHERE tenant_id = $1 AND id = $2 AND status = 'assigned'
        RETURNING {_COLUMNS}
        """,
        tenant_id,
        remedy_id,
        rating,
        feedback,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE scheduled_messages SET status = 'cancelled', cancelled_at = now() "
        "WHERE tenant_id = $1 AND purpose = 'remedy' AND status = 'scheduled' "
        "AND data ->> 'remedy_id' = $2",
        tenant_id,
        str(remedy_id),
    )
    return _remedy(row)


async def is_client_of_tenant(conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 AND role = 'user'",
        tenant_id,
        user_id,
    )
    return found is not None


def _remedy(row: asyncpg.Record) -> Remedy:
    return Remedy(
        remedy_id=row["id"],
        tenant_id=row["tenant_id"],
        astrologer_user_id=row["astrologer_user_id"],
        client_user_id=row["client_user_id"],
        booking_id=row["booking_id"],
        type=row["type"],
        instructions=row["instructions"],
        duration_days=row["duration_days"],
        reminders=row["reminders"],
        daily_at=row["daily_at"],
        idempotency_key=row["idempotency_key"],
        status=row["status"],
        feedback=row["feedback"],
        rating=row["rating"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
    )
