"""Holds as the edge sees them: find the tenant, check who may act, ask the tenant's actor.

Shared by the Socket.IO events and the REST routes so both answer the same way.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from typing import Any
from uuid import UUID

import asyncpg

from actors.commands import CreateHoldCommand, ReleaseHoldCommand, RescheduleBookingCommand
from actors.pool import ShardPool
from hub.auth import Principal
from protocols.catalog import BookingExtras, BookingFields, check_extras
from protocols.errors import NotFound
from protocols.holds import CreateHold, HoldView
from protocols.reminders import RescheduleBooking
from storage import availability as reads
from storage import catalog
from storage.records import HoldState, Reschedule
from storage.tenancy import tenant_scope

_ROUTE_CACHE_SIZE = 100_000


class HoldService:
    def __init__(self, *, db: asyncpg.Pool, shards: ShardPool) -> None:
        self._db = db
        self._shards = shards
        # Which tenant owns a slot never changes, so it can be cached without invalidation.
        self._slot_tenant: OrderedDict[UUID, UUID] = OrderedDict()

    async def create(self, principal: Principal, request: CreateHold) -> HoldView:
        tenant_id = await self._tenant_of_slot(principal, request.slot_id)
        if tenant_id is None or not principal.may_act_in(tenant_id):
            # Another tenant's slot is reported as missing: its existence is not ours to reveal.
            raise NotFound("no such slot", {"slot_id": str(request.slot_id)})
        extras = None
        if request.extras is not None:
            extras = await self._checked_extras(tenant_id, request.slot_id, request.extras)
        hold = await self._shards.execute(
            CreateHoldCommand(
                tenant_id=tenant_id,
                user_id=principal.user_id,
                slot_id=request.slot_id,
                qty=request.qty,
                idempotency_key=request.idempotency_key,
                extras=extras,
            )
        )
        return _view(hold)

    async def _checked_extras(
        self, tenant_id: UUID, slot_id: UUID, extras: BookingExtras
    ) -> dict[str, Any] | None:
        """Raises Invalid if the slot's resource does not take these extras."""
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            rules = await catalog.booking_rules_of_slot(conn, tenant_id=tenant_id, slot_id=slot_id)
        if rules is None:
            raise NotFound("no such slot", {"slot_id": str(slot_id)})
        kind, fields = rules
        return check_extras(
            kind, BookingFields.model_validate(fields) if fields is not None else None, extras
        )

    async def release(self, principal: Principal, hold_id: UUID) -> HoldView:
        async with self._reader(principal) as conn:
            tenant_id = await reads.tenant_of_hold(conn, hold_id=hold_id)
        if tenant_id is None or not principal.may_act_in(tenant_id):
            raise NotFound("no such hold", {"hold_id": str(hold_id)})
        hold = await self._shards.execute(
            ReleaseHoldCommand(
                tenant_id=tenant_id,
                user_id=principal.user_id,
                hold_id=hold_id,
                may_release_any=principal.is_staff_of(tenant_id),
            )
        )
        return _view(hold)

    async def reschedule(
        self, principal: Principal, booking_id: UUID, request: RescheduleBooking
    ) -> dict[str, Any]:
        """Move a confirmed booking to another slot of its tenant (the booker, the tenant's
        staff, a platform admin). Another tenant's booking or slot answers NotFound; the rest
        of the rule is :meth:`actors.domain.TenantInventory.reschedule_booking`. No fee is
        charged (a reschedule fee policy is for the platform to decide later)."""
        async with self._reader(principal) as conn:
            tenant_id = await reads.tenant_of_hold(conn, hold_id=booking_id)
        if tenant_id is None or not principal.may_act_in(tenant_id):
            raise NotFound("no such booking", {"booking_id": str(booking_id)})
        if await self._tenant_of_slot(principal, request.slot_id) != tenant_id:
            raise NotFound("no such slot", {"slot_id": str(request.slot_id)})
        move = await self._shards.execute(
            RescheduleBookingCommand(
                tenant_id=tenant_id,
                user_id=principal.user_id,
                hold_id=booking_id,
                to_slot_id=request.slot_id,
                idempotency_key=request.idempotency_key,
                may_reschedule_any=principal.is_staff_of(tenant_id),
            )
        )
        return _move_view(move)

    def _reader(self, principal: Principal) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """Tenant users look things up inside their tenant's row-level-security scope, so
        another tenant's ids are simply not there; platform operators see every tenant."""
        if principal.tenant_id is None:
            return self._db.acquire()
        return tenant_scope(self._db, principal.tenant_id, readonly=True)

    async def _tenant_of_slot(self, principal: Principal, slot_id: UUID) -> UUID | None:
        tenant_id = self._slot_tenant.get(slot_id)
        if tenant_id is not None:
            self._slot_tenant.move_to_end(slot_id)
            return tenant_id
        async with self._reader(principal) as conn:
            tenant_id = await reads.tenant_of_slot(conn, slot_id=slot_id)
        if tenant_id is not None:
            self._slot_tenant[slot_id] = tenant_id
            if len(self._slot_tenant) > _ROUTE_CACHE_SIZE:
                self._slot_tenant.popitem(last=False)
        return tenant_id


def _view(hold: HoldState) -> HoldView:
    return HoldView(
        hold_id=hold.hold_id,
        slot_id=hold.slot_id,
        qty=hold.qty,
        status=hold.status,
        expires_at=hold.expires_at,
    )


def _move_view(move: Reschedule) -> dict[str, Any]:
    return {
        "booking_id": str(move.hold_id),
        "from_slot_id": str(move.from_slot_id),
        "slot_id": str(move.to_slot_id),
        "qty": move.qty,
        "rescheduled_at": move.at.isoformat(),
        "idempotency_key": move.idempotency_key,
    }
