"""Remedies: an astrologer (the tenant's staff) assigns a practice to a client, optionally
tied to one of the client's bookings, with daily reminders; the client completes it with a
rating and feedback.

Assigning writes the remedy and, with ``reminders``, one scheduled ``system`` message per day
at ``daily_at`` in the tenant's timezone (``storage.reminders`` plans, purpose ``remedy``) in
one transaction; the same idempotency key answers the same remedy and plans nothing twice.
Completing cancels the reminders still scheduled, in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from hub.booking_access import check_booking_staff
from protocols.errors import Conflict, Invalid, NotFound
from protocols.remedies import AssignRemedy, CompleteRemedy
from protocols.reminders import remedy_times
from storage import audit, catalog, live_status
from storage import remedies as store
from storage import reminders as scheduled
from storage.tenancy import tenant_scope


class RemedyService:
    def __init__(self, *, db: asyncpg.Pool) -> None:
        self._db = db

    async def assign(
        self, principal: Principal, body: AssignRemedy, ctx: audit.AuditContext
    ) -> tuple[dict[str, Any], bool]:
        """Returns (the remedy with its planned reminders, made now). Invalid: the client is
        not a client of the caller's tenant, or the booking is not the client's; NotFound:
        the booking; Forbidden: staff not assigned to the booking (``hub/booking_access``);
        Conflict: the key was used for another remedy."""
        tenant_id = principal.tenant_id
        if tenant_id is None or not principal.is_staff_of(tenant_id):
            raise NotFound("no such tenant")
        now = datetime.now(UTC)
        async with tenant_scope(self._db, tenant_id) as conn:
            if not await store.is_client_of_tenant(
                conn, tenant_id=tenant_id, user_id=body.client_user_id
            ):
                raise Invalid(
                    "client_user_id is not a client of this tenant",
                    {"loc": ["body", "client_user_id"]},
                )
            if body.booking_id is not None:
                booking = await live_status.load(
                    conn, tenant_id=tenant_id, booking_id=body.booking_id
                )
                if booking is None:
                    raise NotFound("no such booking", {"booking_id": str(body.booking_id)})
                if body.client_user_id not in booking.devotees:
                    raise Invalid(
                        "the booking is not the client's", {"loc": ["body", "booking_id"]}
                    )
                await check_booking_staff(conn, principal, booking, action="assign remedies")
            remedy, made = await store.insert(
                conn,
                tenant_id=tenant_id,
                remedy_id=uuid.uuid4(),
                astrologer_user_id=principal.user_id,
                client_user_id=body.client_user_id,
                booking_id=body.booking_id,
                type=body.type,
                instructions=body.instructions,
                duration_days=body.duration_days,
                reminders=body.reminders,
                daily_at=body.daily_at,
                idempotency_key=body.idempotency_key,
            )
            if _fields(remedy) != _asked(body):
                raise Conflict(
                    "idempotency key was already used for a different remedy",
                    {"reason": "exists_with_different_fields"},
                )
            planned: list[scheduled.ScheduledMessage] = []
            if remedy.reminders and remedy.daily_at is not None:
                timezone = await catalog.tenant_timezone(conn, tenant_id=tenant_id) or "UTC"
                times = remedy_times(
                    remedy.daily_at,
                    remedy.duration_days,
                    timezone=timezone,
                    now=remedy.created_at if not made else now,
                )
                planned, _ = await scheduled.plan_messages(
                    conn,
                    tenant_id=tenant_id,
                    user_id=remedy.client_user_id,
                    booking_id=remedy.booking_id,
                    kind="system",
                    purpose="remedy",
                    planned=[
                        scheduled.PlannedMessage(
                            dedupe_key=f"remedy_plan:{remedy.remedy_id}:{day}",
                            due_at=at.astimezone(UTC),
                            data={
                                "remedy_id": str(remedy.remedy_id),
                                "reminder": "remedy",
                                "title": f"Remedy: {remedy.type}",
                                "body": remedy.instructions,
                                "daily_at": remedy.daily_at,
                                "day": day,
                                "days": remedy.duration_days,
                            },
                        )
                        for day, at in enumerate(times, start=1)
                    ],
                )
            if made:
                await audit.record(
                    conn,
                    ctx,
                    tenant_id=tenant_id,
                    action="remedy.assigned",
                    entity="remedy",
                    entity_id=remedy.remedy_id,
                    after={"client_user_id": body.client_user_id, "type": body.type},
                )
        return {**remedy.wire(), "reminders_planned": [m.wire() for m in planned]}, made

    async def complete(
        self, principal: Principal, remedy_id: UUID, body: CompleteRemedy, ctx: audit.AuditContext
    ) -> tuple[dict[str, Any], bool]:
        """By the client only (anyone else: NotFound). Returns (the remedy, completed now);
        completing again answers it unchanged."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise NotFound("no such remedy", {"remedy_id": str(remedy_id)})
        async with tenant_scope(self._db, tenant_id) as conn:
            remedy = await store.get(
                conn, tenant_id=tenant_id, remedy_id=remedy_id, for_update=True
            )
            if remedy is None or remedy.client_user_id != principal.user_id:
                raise NotFound("no such remedy", {"remedy_id": str(remedy_id)})
            if remedy.status == "completed":
                return remedy.wire(), False
            done = await store.complete(
                conn,
                tenant_id=tenant_id,
                remedy_id=remedy_id,
                rating=body.rating,
                feedback=body.feedback,
            )
            assert done is not None  # locked above and still assigned
            await audit.record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="remedy.completed",
                entity="remedy",
                entity_id=remedy_id,
                after={"rating": body.rating},
            )
        return done.wire(), True

    async def list(self, principal: Principal, *, limit: int) -> dict[str, Any]:
        """A client's remedies; a staff member's: those they assigned."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            return {"remedies": []}
        staff = principal.is_staff_of(tenant_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            found = await store.list_for(
                conn,
                tenant_id=tenant_id,
                client_user_id=None if staff else principal.user_id,
                astrologer_user_id=principal.user_id if staff else None,
                limit=limit,
            )
        return {"remedies": [r.wire() for r in found]}


def _fields(remedy: store.Remedy) -> tuple[Any, ...]:
    return (
        remedy.client_user_id,
        remedy.booking_id,
        remedy.type,
        remedy.instructions,
        remedy.duration_days,
        remedy.reminders,
        remedy.daily_at,
    )


def _asked(body: AssignRemedy) -> tuple[Any, ...]:
    return (
        body.client_user_id,
        body.booking_id,
        body.type,
        body.instructions,
        body.duration_days,
        body.reminders,
        body.daily_at,
    )
