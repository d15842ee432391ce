"""Scheduled messages: rows due at a time that become notifications when their time comes.

Planned in the transaction of the change that needs them (a booking's confirmation or
reschedule in the shard's group commit, a staff member's remedy plan), each with a
``dedupe_key`` so a retried plan plans nothing twice. :func:`send_due` claims due rows with
``FOR UPDATE SKIP LOCKED`` and, in the caller's transaction, marks them sent and queues their
notification in the outbox under a key derived from the row's id: however many hubs claim at
once, and whatever dies mid-claim, each message is queued once.

Statuses: ``scheduled`` → ``sent`` | ``cancelled`` (:func:`cancel_for_bookings`,
:func:`replan_after_reschedule`; a due row whose booking is no longer confirmed, or has moved
to another slot, is cancelled instead of sent).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from storage import notifications

# A confirmed booking is reminded 24 h and 1 h before its slot starts (times already past are
# skipped).
BOOKING_REMINDER_OFFSETS_MINS = (24 * 60, 60)

Purpose = Literal["booking", "remedy", "follow_up", "renewal"]


@dataclass(frozen=True)
class ScheduledMessage:
    id: UUID
    tenant_id: UUID
    user_id: UUID
    booking_id: UUID | None
    kind: str
    purpose: str
    data: dict[str, Any]
    due_at: datetime
    status: str
    dedupe_key: str
    created_at: datetime
    sent_at: datetime | None
    cancelled_at: datetime | None

    def wire(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "booking_id": str(self.booking_id) if self.booking_id else None,
            "user_id": str(self.user_id),
            "kind": self.kind,
            "purpose": self.purpose,
            "data": self.data,
            "due_at": self.due_at.isoformat(),
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "cancelled_at": self.cancelled_at.isoformat() if self.cancelled_at else None,
        }


@dataclass(frozen=True)
class PlannedMessage:
    """One row a plan asks for: its key (unique across all plans), when, and what it says."""

    dedupe_key: str
    due_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class BookingOwner:
    booking_id: UUID
    tenant_id: UUID
    user_id: UUID
    status: str
    timezone: str


_COLUMNS = (
    "id, tenant_id, user_id, booking_id, kind, purpose, data, due_at, status, dedupe_key, "
    "created_at, sent_at, cancelled_at"
)


def message_dedupe_key(message_id: UUID) -> str:
    """The outbox key of a scheduled message's notification: one notification per message."""
    return f"scheduled_message:{message_id}"


async def plan_booking_reminders(
    conn: asyncpg.Connection, *, hold_ids: Sequence[UUID], plans: Sequence[str]
) -> None:
    """``booking_reminder`` rows for each hold, before the start of the slot it is in now
    (``BOOKING_REMINDER_OFFSETS_MINS``), skipping times already past. ``plans[i]`` names the
    plan of ``hold_ids[i]`` (``confirmed``, ``moved:<key>``) so that a re-applied batch plans
    nothing twice. The days of a seat plan get none (the plan's renewal reminder stands for
    them). One statement; call it in the transaction of the change."""
    await conn.execute(
        """
        INSERT INTO scheduled_messages (id, tenant_id, user_id, booking_id, kind, purpose, data,
                                        due_at, dedupe_key)
        SELECT gen_random_uuid(), h.tenant_id, h.user_id, h.id, 'booking_reminder', 'booking',
               jsonb_build_object('booking_id', h.id, 'slot_id', s.id,
                                  'starts_at', s.starts_at, 'before_mins', o.mins),
               s.starts_at - make_interval(mins => o.mins),
               'booking_reminder:' || h.id || ':' || o.mins || ':' || x.plan
        FROM unnest($1::uuid[], $2::text[]) AS x(hold_id, plan)
        JOIN holds h ON h.id = x.hold_id
        JOIN slots s ON s.tenant_id = h.tenant_id AND s.id = h.slot_id
        CROSS JOIN unnest($3::int[]) AS o(mins)
        WHERE s.starts_at - make_interval(mins => o.mins) > now()
          -- A seat plan's days get no per-day reminders: the plan has its renewal reminder.
          AND NOT EXISTS (
            SELECT 1 FROM seat_plans p
            WHERE p.tenant_id = h.tenant_id AND p.user_id = h.user_id
              AND starts_with(h.idempotency_key, 'seat-plan:' || p.id || ':'))
        ON CONFLICT (dedupe_key) DO NOTHING
        """,
        list(hold_ids),
        list(plans),
        list(BOOKING_REMINDER_OFFSETS_MINS),
    )


async def replan_after_reschedule(
    conn: asyncpg.Connection, *, hold_ids: Sequence[UUID], keys: Sequence[str]
) -> None:
    """The moved bookings' slot reminders: those still scheduled are cancelled and new ones
    planned for the slot each booking is in now (``holds.slot_id`` already updated). Remedy
    and follow-up messages do not depend on the slot and stay. Call it in the transaction that
    moves the bookings."""
    await cancel_for_bookings(conn, hold_ids=hold_ids, purposes=["booking"])
    await plan_booking_reminders(conn, hold_ids=hold_ids, plans=[f"moved:{k}" for k in keys])


async def cancel_for_bookings(
    conn: asyncpg.Connection, *, hold_ids: Sequence[UUID], purposes: Sequence[str] | None = None
) -> int:
    """Cancel the bookings' messages still scheduled (only of ``purposes`` if given); returns
    how many."""
    done = await conn.fetchval(
        """
        WITH c AS (
            UPDATE scheduled_messages SET status = 'cancelled', cancelled_at = now()
            WHERE booking_id = ANY($1::uuid[]) AND status = 'scheduled'
              AND ($2::text[] IS NULL OR purpose = ANY($2::text[]))
            RETURNING 1
        ) SELECT count(*) FROM c
        """,
        list(hold_ids),
        list(purposes) if purposes is not None else None,
    )
    return int(done)


async def booking_owner(
    conn: asyncpg.Connection, *, tenant_id: UUID, booking_id: UUID
) -> BookingOwner | None:
    row = await conn.fetchrow(
        """
        SELECT h.id, h.tenant_id, h.user_id, h.status, t.timezone
        FROM holds h JOIN tenants t ON t.id = h.tenant_id
        WHERE h.tenant_id = $1 AND h.id = $2
        """,
        tenant_id,
        booking_id,
    )
    if row is None:
        return None
    return BookingOwner(row["id"], row["tenant_id"], row["user_id"], row["status"], row["timezone"])


async def plan_messages(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    user_id: UUID,
    booking_id: UUID | None,
    kind: str,
    purpose: Purpose,
    planned: Sequence[PlannedMessage],
) -> tuple[list[ScheduledMessage], int]:
    """Insert the planned rows whose keys are new; returns (the rows of every key, in
    ``due_at`` order, whether made now or earlier; how many were made now)."""
    keys = [p.dedupe_key for p in planned]
    made = await conn.fetchval(
        """
        WITH i AS (
            INSERT INTO scheduled_messages (id, tenant_id, user_id, booking_id, kind, purpose,
                                            data, due_at, dedupe_key)
            SELECT x.id, $1, $2, $3, $4, $5, x.data, x.due_at, x.dedupe_key
            FROM unnest($6::uuid[], $7::jsonb[], $8::timestamptz[], $9::text[])
                 AS x(id, data, due_at, dedupe_key)
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING 1
        ) SELECT count(*) FROM i
        """,
        tenant_id,
        user_id,
        booking_id,
        kind,
        purpose,
        [uuid.uuid4() for _ in planned],
        [json.dumps(p.data) for p in planned],
        [p.due_at for p in planned],
        keys,
    )
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM scheduled_messages "
        "WHERE tenant_id = $1 AND dedupe_key = ANY($2::text[]) ORDER BY due_at, id",
        tenant_id,
        keys,
    )
    return [_message(r) for r in rows], int(made)


async def list_for_booking(
    conn: asyncpg.Connection, *, tenant_id: UUID, booking_id: UUID
) -> list[ScheduledMessage]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM scheduled_messages "
        "WHERE tenant_id = $1 AND booking_id = $2 ORDER BY due_at, id",
        tenant_id,
        booking_id,
    )
    return [_message(r) for r in rows]


async def send_due(conn: asyncpg.Connection, *, limit: int) -> tuple[int, int]:
    """Claim up to ``limit`` due messages (skipping rows another transaction holds) and, in the
    caller's transaction, queue each one's notification and mark it sent — or cancel it if its
    booking is no longer confirmed, or (a slot reminder) has moved to another slot. Returns
    (sent, cancelled)."""
    rows = await conn.fetch(
        """
        SELECT m.id, m.tenant_id, m.user_id, m.kind, m.data,
               m.booking_id IS NOT NULL AND (
                   h.status IS DISTINCT FROM 'confirmed'
                   OR (m.purpose = 'booking'
                       AND (m.data ->> 'slot_id')::uuid IS DISTINCT FROM h.slot_id)
               ) AS stale
        FROM scheduled_messages m LEFT JOIN holds h ON h.id = m.booking_id
        WHERE m.status = 'scheduled' AND m.due_at <= now()
        ORDER BY m.due_at, m.id
        LIMIT $1
        FOR UPDATE OF m SKIP LOCKED
        """,
        limit,
    )
    sent: list[UUID] = []
    stale: list[UUID] = []
    for row in rows:
        if row["stale"]:
            stale.append(row["id"])
            continue
        data = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
        await notifications.enqueue(
            conn,
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            kind=row["kind"],
            data={**data, "scheduled_message_id": str(row["id"])},
            dedupe_key=message_dedupe_key(row["id"]),
        )
        sent.append(row["id"])
    if sent:
        await conn.execute(
            "UPDATE scheduled_messages SET status = 'sent', sent_at = now() "
            "WHERE id = ANY($1::uuid[])",
            sent,
        )
    if stale:
        await conn.execute(
            "UPDATE scheduled_messages SET status = 'cancelled', cancelled_at = now() "
            "WHERE id = ANY($1::uuid[])",
            stale,
        )
    return len(sent), len(stale)


async def next_due_in_secs(conn: asyncpg.Connection) -> float | None:
    """Seconds until the earliest scheduled message is due, by the database's clock (negative
    if it is due; None if nothing is scheduled)."""
    secs = await conn.fetchval(
        "SELECT extract(epoch FROM min(due_at) - now()) FROM scheduled_messages "
        "WHERE status = 'scheduled'"
    )
    return float(secs) if secs is not None else None


def _message(row: asyncpg.Record) -> ScheduledMessage:
    data = row["data"]
    return ScheduledMessage(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        booking_id=row["booking_id"],
        kind=row["kind"],
        purpose=row["purpose"],
        data=json.loads(data) if isinstance(data, str) else data,
        due_at=row["due_at"],
        status=row["status"],
        dedupe_key=row["dedupe_key"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        cancelled_at=row["cancelled_at"],
    )
