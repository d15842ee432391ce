"""Monthly (multi-day) seat plans of study libraries: the plan row, the slots it books, and its
renewal reminder. The bookings themselves are ordinary holds made by the tenant's actor."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from storage import notifications, reminders

RENEWAL_NOTICE_DAYS = 3


@dataclass(frozen=True)
class SeatPlan:
    id: UUID
    tenant_id: UUID
    user_id: UUID
    resource_id: UUID
    idempotency_key: str
    starts_on: date
    ends_on: date
    status: str
    booking_ids: list[UUID]
    amount_paise: int
    failure: dict[str, Any] | None
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "plan_id": str(self.id),
            "user_id": str(self.user_id),
            "resource_id": str(self.resource_id),
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "status": self.status,
            "booking_ids": [str(b) for b in self.booking_ids],
            "amount_paise": self.amount_paise,
            "failure": self.failure,
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class SeatResource:
    id: UUID
    kind: str
    name: str
    status: str


@dataclass(frozen=True)
class PlanSlot:
    slot_id: UUID
    local_date: date
    starts_at: datetime
    ends_at: datetime
    price_paise: int


_COLUMNS = (
    "id, tenant_id, user_id, resource_id, idempotency_key, starts_on, ends_on, status, "
    "booking_ids, amount_paise, failure, created_at"
)


async def seat_resource(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID
) -> SeatResource | None:
    row = await conn.fetchrow(
        "SELECT id, kind, name, status FROM resources WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        resource_id,
    )
    return SeatResource(row["id"], row["kind"], row["name"], row["status"]) if row else None


async def start_plan(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    user_id: UUID,
    resource_id: UUID,
    idempotency_key: str,
    starts_on: date,
    ends_on: date,
) -> SeatPlan:
    """The plan of this key: made now as ``pending``, or the one made earlier (whatever its
    fields; the caller compares them)."""
    await conn.execute(
        """
        INSERT INTO seat_plans (id, tenant_id, user_id, resource_id, idempotency_key, starts_on,
                                ends_on)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (tenant_id, user_id, idempotency_key) DO NOTHING
        """,
        uuid.uuid4(),
        tenant_id,
        user_id,
        resource_id,
        idempotency_key,
        starts_on,
        ends_on,
    )
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM seat_plans "
        "WHERE tenant_id = $1 AND user_id = $2 AND idempotency_key = $3",
        tenant_id,
        user_id,
        idempotency_key,
    )
    assert row is not None
    return _plan(row)


async def slots_of_days(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID, starts_on: date, ends_on: date
) -> list[PlanSlot]:
    rows = await conn.fetch(
        """
        SELECT id, local_date, starts_at, ends_at, price_paise FROM slots
        WHERE tenant_id = $1 AND resource_id = $2 AND local_date BETWEEN $3 AND $4
        ORDER BY starts_at
        """,
        tenant_id,
        resource_id,
        starts_on,
        ends_on,
    )
    return [
        PlanSlot(r["id"], r["local_date"], r["starts_at"], r["ends_at"], r["price_paise"])
        for r in rows
    ]


async def activate(
    conn: asyncpg.Connection,
    *,
    plan: SeatPlan,
    booking_ids: list[UUID],
    amount_paise: int,
    plan_ends_at: datetime,
    resource_name: str,
) -> SeatPlan:
    """Mark the plan active, plan its renewal reminder (``plan_renewal``,
    ``RENEWAL_NOTICE_DAYS`` before it ends, skipped if that is past) and queue the plan's one
    ``booking_confirmed`` (``plan_id, resource_id, seat, from, to``), in the caller's
    transaction. The reminder is tied to the plan's last booking, so it is cancelled if that
    booking is."""
    row = await conn.fetchrow(
        f"""
        UPDATE seat_plans SET status = 'active', booking_ids = $2, amount_paise = $3,
                              updated_at = now()
        WHERE id = $1 RETURNING {_COLUMNS}
        """,
        plan.id,
        booking_ids,
        amount_paise,
    )
    assert row is not None
    due_at = plan_ends_at - timedelta(days=RENEWAL_NOTICE_DAYS)
    now = await conn.fetchval("SELECT now()")
    if due_at > now and booking_ids:
        await reminders.plan_messages(
            conn,
            tenant_id=plan.tenant_id,
            user_id=plan.user_id,
            booking_id=booking_ids[-1],
            kind="plan_renewal",
            purpose="renewal",
            planned=[
                reminders.PlannedMessage(
                    dedupe_key=f"seat_plan_renewal:{plan.id}",
                    due_at=due_at,
                    data={
                        "seat_plan_id": str(plan.id),
                        "seat": resource_name,
                        "plan_ends_on": plan.ends_on.isoformat(),
                    },
                )
            ],
        )
    # The plan's one confirmation: its days' holds queue none of their own (see
    # storage.notifications.enqueue_confirmations).
    await notifications.enqueue(
        conn,
        tenant_id=plan.tenant_id,
        user_id=plan.user_id,
        kind="booking_confirmed",
        data={
            "plan_id": str(plan.id),
            "resource_id": str(plan.resource_id),
            "seat": resource_name,
            "from": plan.starts_on.isoformat(),
            "to": plan.ends_on.isoformat(),
        },
        dedupe_key=f"seat_plan_confirmed:{plan.id}",
    )
    return _plan(row)


async def fail(conn: asyncpg.Connection, *, plan_id: UUID, failure: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE seat_plans SET status = 'failed', failure = $2::jsonb, updated_at = now() "
        "WHERE id = $1 AND status = 'pending'",
        plan_id,
        json.dumps(failure),
    )


async def renewal_reminders(
    conn: asyncpg.Connection, *, tenant_id: UUID, plan_id: UUID
) -> list[dict[str, Any]]:
    """The plan's renewal reminder (none if it was due in the past when the plan started)."""
    rows = await conn.fetch(
        "SELECT id, kind, purpose, data, due_at, status FROM scheduled_messages "
        "WHERE tenant_id = $1 AND dedupe_key = $2",
        tenant_id,
        f"seat_plan_renewal:{plan_id}",
    )
    return [
        {
            "id": str(r["id"]),
            "kind": r["kind"],
            "purpose": r["purpose"],
            "data": json.loads(r["data"]) if isinstance(r["data"], str) else r["data"],
            "due_at": r["due_at"].isoformat(),
            "status": r["status"],
        }
        for r in rows
    ]


async def plans_of_user(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID
) -> list[SeatPlan]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM seat_plans WHERE tenant_id = $1 AND user_id = $2 "
        "ORDER BY starts_on DESC, created_at DESC LIMIT 100",
        tenant_id,
        user_id,
    )
    return [_plan(r) for r in rows]


def _plan(row: asyncpg.Record) -> SeatPlan:
    failure = row["failure"]
    return SeatPlan(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        resource_id=row["resource_id"],
        idempotency_key=row["idempotency_key"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        status=row["status"],
        booking_ids=list(row["booking_ids"]),
        amount_paise=row["amount_paise"],
        failure=json.loads(failure) if isinstance(failure, str) else failure,
        created_at=row["created_at"],
    )


async def confirmed_slot_ids(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID, key_prefix: str
) -> set[UUID]:
    """Slots the plan's holds (keys starting with ``key_prefix``) already confirmed."""
    rows = await conn.fetch(
        "SELECT slot_id FROM holds WHERE tenant_id = $1 AND user_id = $2 "
        "AND status = 'confirmed' AND starts_with(idempotency_key, $3)",
        tenant_id,
        user_id,
        key_prefix,
    )
    return {r["slot_id"] for r in rows}
