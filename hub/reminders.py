"""Reminders: what staff plan for a booking (remedies, follow-ups), what a booking's owner and
staff can list, and the loop in every hub that sends what is due.

Booking reminders (24 h and 1 h before the slot) are planned by the shard in the transaction
that confirms or moves the booking (``storage.inventory.commit_changes``), and cancelled with
a cancellation (``storage.bookings.decide_cancellation``); nothing here plans them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from hub.background import cancel_and_wait
from hub.booking_access import tenant_of_booking
from protocols.errors import Conflict, Invalid, NotFound
from protocols.reminders import (
    MAX_FOLLOW_UP_AHEAD,
    PlanFollowUp,
    PlanRemedy,
    remedy_times,
)
from storage import audit
from storage import reminders as store
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

_MIN_WAIT_SECS = 0.05


class ReminderService:
    def __init__(self, *, db: asyncpg.Pool) -> None:
        self._db = db

    async def plan(
        self,
        principal: Principal,
        booking_id: UUID,
        plan: PlanRemedy | PlanFollowUp,
        ctx: audit.AuditContext,
    ) -> tuple[dict[str, Any], bool]:
        """Plan the messages for the booking's owner; returns (the plan's rows, made now).
        The same idempotency key answers the same rows; with a different plan it is a
        Conflict (``exists_with_different_fields``). NotFound unless the caller is staff of
        the booking's tenant; Conflict unless the booking is confirmed."""
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        if not principal.is_staff_of(tenant_id):
            raise NotFound("no such booking", {"booking_id": str(booking_id)})
        now = datetime.now(UTC)
        async with tenant_scope(self._db, tenant_id) as conn:
            owner = await store.booking_owner(conn, tenant_id=tenant_id, booking_id=booking_id)
            if owner is None:
                raise NotFound("no such booking", {"booking_id": str(booking_id)})
            if owner.status != "confirmed":
                raise Conflict(
                    f"reminders are planned for confirmed bookings; it is {owner.status}",
                    {"status": owner.status},
                )
            planned = _planned(booking_id, plan, timezone=owner.timezone, now=now)
            rows, made = await store.plan_messages(
                conn,
                tenant_id=tenant_id,
                user_id=owner.user_id,
                booking_id=booking_id,
                kind="system",
                purpose=plan.kind,
                planned=planned,
            )
            if not _same_plan(rows, planned, fixed_times=isinstance(plan, PlanFollowUp)):
                # (What this call inserted is rolled back with the transaction.)
                raise Conflict(
                    "idempotency key was already used for a different plan",
                    {"reason": "exists_with_different_fields"},
                )
            if made:
                await audit.record(
                    conn,
                    ctx,
                    tenant_id=tenant_id,
                    action=f"reminders.{plan.kind}_planned",
                    entity="booking",
                    entity_id=booking_id,
                    after={"reminders": made, "idempotency_key": plan.idempotency_key},
                )
        return {"booking_id": str(booking_id), "reminders": [r.wire() for r in rows]}, made > 0

    async def list(self, principal: Principal, booking_id: UUID) -> dict[str, Any]:
        """The booking's messages in due order, for its owner and its tenant's staff (anyone
        else: NotFound)."""
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            owner = await store.booking_owner(conn, tenant_id=tenant_id, booking_id=booking_id)
            if owner is None or not (
                principal.is_staff_of(tenant_id) or principal.user_id == owner.user_id
            ):
                raise NotFound("no such booking", {"booking_id": str(booking_id)})
            rows = await store.list_for_booking(conn, tenant_id=tenant_id, booking_id=booking_id)
        return {"booking_id": str(booking_id), "reminders": [r.wire() for r in rows]}


def _same_plan(
    rows: list[store.ScheduledMessage], planned: list[store.PlannedMessage], *, fixed_times: bool
) -> bool:
    """Whether the stored rows of the plan's keys are what this request asks for. A remedy's
    times follow from when it was first asked (a retry the next day is still the same plan)."""
    stored = {r.dedupe_key: (r.data, r.due_at if fixed_times else None) for r in rows}
    asked = {p.dedupe_key: (p.data, p.due_at if fixed_times else None) for p in planned}
    return stored == asked


def _planned(
    booking_id: UUID, plan: PlanRemedy | PlanFollowUp, *, timezone: str, now: datetime
) -> list[store.PlannedMessage]:
    base = {"booking_id": str(booking_id), "reminder": plan.kind}
    text = {"title": plan.title, "body": plan.body}
    if isinstance(plan, PlanRemedy):
        times = remedy_times(plan.daily_at, plan.days, timezone=timezone, now=now)
        return [
            store.PlannedMessage(
                dedupe_key=f"remedy:{booking_id}:{plan.idempotency_key}:{day}",
                due_at=at.astimezone(UTC),
                data={**base, **text, "daily_at": plan.daily_at, "day": day, "days": plan.days},
            )
            for day, at in enumerate(times, start=1)
        ]
    at = plan.at.astimezone(UTC)
    if not now < at <= now + MAX_FOLLOW_UP_AHEAD:
        raise Invalid("at must be in the future and within a year", {"loc": ["body", "at"]})
    return [
        store.PlannedMessage(
            dedupe_key=f"follow_up:{booking_id}:{plan.idempotency_key}",
            due_at=at,
            data={**base, **text},
        )
    ]


class ReminderLoop:
    """Sends due scheduled messages. Every hub runs one; rows are claimed with SKIP LOCKED,
    so loops on several hubs share the work and never send one message twice. Between rounds
    it sleeps until the earliest scheduled message is due, at most ``poll_secs`` (so messages
    planned meanwhile by another process are seen within that)."""

    def __init__(self, *, db: asyncpg.Pool, poll_secs: float, batch: int = 100) -> None:
        self._db = db
        self._poll = poll_secs
        self._batch = batch
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reminders")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def send_due_once(self) -> int:
        """One transaction: claim up to ``batch`` due messages, queue their notifications and
        mark them sent (or cancelled, when their booking changed). Returns how many rows it
        handled; a hub killed before commit leaves them to the next claim."""
        async with self._db.acquire() as conn, conn.transaction():
            sent, cancelled = await store.send_due(conn, limit=self._batch)
        self.sent += sent
        return sent + cancelled

    async def _run(self) -> None:
        while True:
            wait = self._poll
            try:
                while await self.send_due_once() >= self._batch:
                    pass
                async with self._db.acquire() as conn:
                    due_in = await store.next_due_in_secs(conn)
                if due_in is not None:
                    wait = min(self._poll, max(due_in, _MIN_WAIT_SECS))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("reminder round failed, retrying: %r", exc)
            await asyncio.sleep(wait)
