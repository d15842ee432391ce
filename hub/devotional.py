"""Temple bookings made of several holds: a puja with its chadhava offerings, a yatra's days.

Every place is held through the tenant's logical actor like any hold, so stock never
oversells: a chadhava's stock of a day is the capacity of the chadhava resource's slot on that
day, a yatra's capacity per day the capacity of its slot on each day. The holds of one booking
form a **linked hold group**: made in order, each with a key derived from the group (so a retry
makes none twice), and all or nothing — when one is refused, those already made are released
and the group is forgotten. Paying the group pays each hold from the wallet (each its own
saga, ``hub/hold_payments.py``); releasing it releases them all.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from actors.commands import CreateHoldCommand, ReleaseHoldCommand
from actors.pool import ShardPool
from hub.auth import Principal
from hub.hold_payments import HoldPayments
from protocols.catalog import BookingExtras, BookingFields, check_extras
from protocols.devotional import BookPuja, BookYatra
from protocols.errors import Conflict, Forbidden, InsufficientFunds, Invalid, NotFound, SevaError
from protocols.wire import parse_iso_date
from storage import devotional as store
from storage import group_payments
from storage import ledger as ledger_db
from storage.records import HoldState
from storage.tenancy import tenant_scope

# (slot_id, qty, extras, role) of each hold of a group, in order.
_Plan = list[tuple[UUID, int, dict[str, Any] | None, str]]


class DevotionalBookings:
    def __init__(self, *, db: asyncpg.Pool, shards: ShardPool, hold_payments: HoldPayments):
        self._db = db
        self._shards = shards
        self._payments = hold_payments

    def _tenant(self, principal: Principal) -> UUID:
        if principal.tenant_id is None:
            raise Forbidden("bookings are made by a tenant's users")
        return principal.tenant_id

    async def book_puja(
        self, principal: Principal, request: BookPuja
    ) -> tuple[dict[str, Any], bool]:
        """Hold one place per name in the puja slot (sankalp details checked against the
        resource's ``booking_fields``) and each offering's qty in its chadhava's slot of the
        same day. Raises NotFound (slot or resource of another tenant), Invalid (not a puja,
        not a chadhava, sankalp details the resource refuses), Conflict (no stock slot that
        day, key reused differently, slot started), SoldOut (with the refused item)."""
        tenant_id = self._tenant(principal)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            puja = await store.slot_facts(conn, tenant_id=tenant_id, slot_id=request.slot_id)
            if puja is None:
                raise NotFound("no such slot", {"slot_id": str(request.slot_id)})
            if puja.kind != "puja":
                raise Invalid("this slot is not a puja", {"loc": ["slot_id"], "kind": puja.kind})
            fields = puja.booking_fields
            extras = check_extras(
                "puja",
                BookingFields.model_validate(fields) if fields is not None else None,
                BookingExtras(
                    participants=request.participants, special_requests=request.special_requests
                ),
            )
            plan: _Plan = [(puja.slot_id, len(request.participants), extras, "puja")]
            for i, offering in enumerate(request.offerings):
                kind = await store.resource_kind(
                    conn, tenant_id=tenant_id, resource_id=offering.resource_id
                )
                if kind is None:
                    raise NotFound("no such offering", {"resource_id": str(offering.resource_id)})
                if kind != "chadhava":
                    raise Invalid(
                        "an offering must be a chadhava resource",
                        {"loc": ["offerings", str(i), "resource_id"], "kind": kind},
                    )
                stock = await store.day_slot(
                    conn, tenant_id=tenant_id, resource_id=offering.resource_id, day=puja.local_date
                )
                if stock is None:
                    raise Conflict(
                        "this offering is not available on the puja's day",
                        {
                            "reason": "offering_unavailable",
                            "resource_id": str(offering.resource_id),
                            "date": puja.local_date.isoformat(),
                        },
                    )
                plan.append((stock.slot_id, offering.qty, None, "offering"))
        return await self._make_group(
            principal,
            tenant_id,
            "puja",
            request.idempotency_key,
            request.model_dump(mode="json"),
            plan,
        )

    async def book_yatra(
        self, principal: Principal, request: BookYatra
    ) -> tuple[dict[str, Any], bool]:
        """Hold ``qty`` places on each day's slot of a yatra, all or nothing. A day without a
        slot is Conflict (``no_departure``); otherwise as :meth:`book_puja`."""
        tenant_id = self._tenant(principal)
        try:
            start = parse_iso_date(request.start_date)
        except ValueError as exc:
            raise Invalid("start_date is not a date", {"loc": ["start_date"]}) from exc
        plan: _Plan = []
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            kind = await store.resource_kind(
                conn, tenant_id=tenant_id, resource_id=request.resource_id
            )
            if kind is None:
                raise NotFound("no such resource", {"resource_id": str(request.resource_id)})
            if kind != "yatra":
                raise Invalid(
                    "this resource is not a yatra", {"loc": ["resource_id"], "kind": kind}
                )
            for offset in range(request.days):
                day = start + timedelta(days=offset)
                slot = await store.day_slot(
                    conn, tenant_id=tenant_id, resource_id=request.resource_id, day=day
                )
                if slot is None:
                    raise Conflict(
                        "the yatra has no departure on one of these days",
                        {"reason": "no_departure", "date": day.isoformat()},
                    )
                plan.append((slot.slot_id, request.qty, None, "day"))
        return await self._make_group(
            principal,
            tenant_id,
            "yatra",
            request.idempotency_key,
            request.model_dump(mode="json"),
            plan,
        )

    async def _make_group(
        self,
        principal: Principal,
        tenant_id: UUID,
        kind: str,
        key: str,
        request: dict[str, Any],
        plan: _Plan,
    ) -> tuple[dict[str, Any], bool]:
        async with tenant_scope(self._db, tenant_id) as conn:
            group_id, first, created = await store.claim_group(
                conn,
                group_id=uuid.uuid4(),
                tenant_id=tenant_id,
                user_id=principal.user_id,
                kind=kind,
                idempotency_key=key,
                request=request,
            )
        if first != request:
            raise Conflict(
                "idempotency key was already used for a different booking",
                {"reason": "exists_with_different_fields", "group_id": str(group_id)},
            )
        made: list[tuple[int, HoldState, str]] = []
        try:
            for position, (slot_id, qty, extras, role) in enumerate(plan):
                hold = await self._shards.execute(
                    CreateHoldCommand(
                        tenant_id=tenant_id,
                        user_id=principal.user_id,
                        slot_id=slot_id,
                        qty=qty,
                        idempotency_key=f"group:{group_id}:{position}",
                        extras=extras,
                    )
                )
                made.append((position, hold, role))
        except SevaError as exc:
            await self._undo(principal, tenant_id, group_id, made)
            if isinstance(exc.details, dict):
                exc.details.setdefault("item", len(made))
            raise
        async with tenant_scope(self._db, tenant_id) as conn:
            await store.add_items(
                conn,
                tenant_id=tenant_id,
                group_id=group_id,
                items=[(pos, hold.hold_id, role) for pos, hold, role in made],
            )
            view = await store.group_view(conn, tenant_id=tenant_id, group_id=group_id)
        assert view is not None
        return view, created

    async def _undo(
        self,
        principal: Principal,
        tenant_id: UUID,
        group_id: UUID,
        made: list[tuple[int, HoldState, str]],
    ) -> None:
        """Release what a refused group had already held, then forget the group."""
        for _, hold, _ in made:
            await self._shards.execute(
                ReleaseHoldCommand(
                    tenant_id=tenant_id,
                    user_id=principal.user_id,
                    hold_id=hold.hold_id,
                    may_release_any=True,
                )
            )
        async with tenant_scope(self._db, tenant_id) as conn:
            await store.drop_group(conn, tenant_id=tenant_id, group_id=group_id)

    async def view(self, principal: Principal, group_id: UUID) -> dict[str, Any]:
        """The group for its owner and the tenant's staff; NotFound for anyone else."""
        tenant_id = await self._tenant_of(principal, group_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            view = await store.group_view(conn, tenant_id=tenant_id, group_id=group_id)
        if view is None or not (
            principal.is_staff_of(tenant_id) or view["user_id"] == str(principal.user_id)
        ):
            raise NotFound("no such booking", {"group_id": str(group_id)})
        return view

    async def pay_from_wallet(self, principal: Principal, group_id: UUID) -> dict[str, Any]:
        """Pay every hold of the caller's group from their INR wallet (the total is checked
        first, so a short wallet pays nothing). Safe to repeat; each hold is its own saga."""
        view = await self.view(principal, group_id)
        if view["user_id"] != str(principal.user_id):
            raise NotFound("no such booking", {"group_id": str(group_id)})
        tenant_id = self._tenant(principal)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            whole = await group_payments.get(conn, tenant_id=tenant_id, group_id=group_id)
        if whole is not None and whole.status != "cancelled":
            # Paid (or being paid) as a whole through POST .../pay: never take money twice.
            raise Conflict(
                "this booking is paid as a whole",
                {"reason": "already_paid" if whole.status == "confirmed" else "already_paying"},
            )
        due = sum(h["amount_paise"] for h in view["holds"] if h["status"] == "held")
        if due > 0:
            async with self._db.acquire() as conn:
                wallet = await ledger_db.ensure_account(
                    conn,
                    code="user_wallet",
                    currency="INR",
                    tenant_id=tenant_id,
                    owner_user_id=principal.user_id,
                    limited=True,
                )
                account = await ledger_db.get_account(conn, account_id=wallet)
            assert account is not None
            if account.available < due:
                raise InsufficientFunds(
                    "the wallet's available balance is short",
                    {"available": account.available, "amount": due},
                )
        for hold in view["holds"]:
            if hold["status"] in ("held", "confirmed"):
                await self._payments.pay_from_wallet(principal, UUID(hold["hold_id"]))
        return await self.view(principal, group_id)

    async def release(self, principal: Principal, group_id: UUID) -> dict[str, Any]:
        """Release every live hold of the group (the owner or the tenant's staff)."""
        view = await self.view(principal, group_id)
        tenant_id = await self._tenant_of(principal, group_id)
        for hold in view["holds"]:
            if hold["status"] == "held":
                await self._shards.execute(
                    ReleaseHoldCommand(
                        tenant_id=tenant_id,
                        user_id=principal.user_id,
                        hold_id=UUID(hold["hold_id"]),
                        may_release_any=principal.is_staff_of(tenant_id),
                    )
                )
        return await self.view(principal, group_id)

    async def _tenant_of(self, principal: Principal, group_id: UUID) -> UUID:
        async with self._db.acquire() as conn:
            tenant_id = await store.tenant_of_group(conn, group_id=group_id)
        if tenant_id is None or not principal.may_act_in(tenant_id):
            raise NotFound("no such booking", {"group_id": str(group_id)})
        return tenant_id
