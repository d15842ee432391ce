"""Monthly seat plans: a student's seat for every day of a run of days (a month by default).

Each slot of the seat resource on each day gets an ordinary hold through the tenant's logical
actor (so the seat is never double-booked, whatever else is booked at the same time), then each
hold is paid from the student's INR wallet through the hold-payment saga and confirmed. All
holds are made before any is paid: if one day is sold out or has started, every hold made is
released and the plan is ``failed``; nothing is charged. Every step is keyed by the plan, so a
retry with the same key finishes (or answers) the same plan.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any, NoReturn
from uuid import UUID

import asyncpg

from actors.commands import CreateHoldCommand, ReleaseHoldCommand
from actors.pool import ShardPool
from hub.auth import Principal
from hub.hold_payments import HoldPayments
from protocols.errors import Conflict, InsufficientFunds, Invalid, NotFound, SevaError, Unavailable
from protocols.library import BookSeatPlan
from protocols.wire import parse_iso_date
from storage import audit, seat_plans
from storage import ledger as ledger_db
from storage.audit import AuditContext
from storage.records import HoldState
from storage.tenancy import tenant_scope

PAY_CONCURRENCY = 8


class SeatPlans:
    def __init__(self, *, db: asyncpg.Pool, shards: ShardPool, hold_payments: HoldPayments) -> None:
        self._db = db
        self._shards = shards
        self._hold_payments = hold_payments

    async def book(
        self, principal: Principal, request: BookSeatPlan, ctx: AuditContext
    ) -> tuple[dict[str, Any], bool]:
        """(the plan, whether it became active now). Raises NotFound (no such seat resource),
        Invalid (not a seat, bad date), Conflict (``no_slots``, a day started, the key used for
        another plan or a failed one), SoldOut, InsufficientFunds, Unavailable (retry)."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise NotFound("no such resource", {"resource_id": str(request.resource_id)})
        try:
            starts_on = parse_iso_date(request.start_date)
        except ValueError as exc:
            raise Invalid("start_date is not a date", {"loc": ["body", "start_date"]}) from exc
        ends_on = starts_on + timedelta(days=request.days - 1)
        async with tenant_scope(self._db, tenant_id) as conn:
            resource = await seat_plans.seat_resource(
                conn, tenant_id=tenant_id, resource_id=request.resource_id
            )
            if resource is None:
                raise NotFound("no such resource", {"resource_id": str(request.resource_id)})
            if resource.kind != "seat":
                raise Invalid("seat plans are for seat resources", {"reason": "not_a_seat"})
            plan = await seat_plans.start_plan(
                conn,
                tenant_id=tenant_id,
                user_id=principal.user_id,
                resource_id=request.resource_id,
                idempotency_key=request.idempotency_key,
                starts_on=starts_on,
                ends_on=ends_on,
            )
            slots = await seat_plans.slots_of_days(
                conn,
                tenant_id=tenant_id,
                resource_id=request.resource_id,
                starts_on=starts_on,
                ends_on=ends_on,
            )
        if (plan.resource_id, plan.starts_on, plan.ends_on) != (
            request.resource_id,
            starts_on,
            ends_on,
        ):
            raise Conflict(
                "this idempotency key was used for another seat plan",
                {"reason": "exists_with_different_fields"},
            )
        if plan.status == "active":
            return await self._answer(plan), False
        if plan.status == "failed":
            raise Conflict(
                "this seat plan was refused; book again with a new idempotency key",
                {"reason": "plan_failed", "failure": plan.failure},
            )
        missing = sorted(
            {starts_on + timedelta(days=i) for i in range(request.days)}
            - {s.local_date for s in slots}
        )
        if missing:
            await self._fail(
                plan.id,
                Conflict(
                    "the seat has no slots on some days of the plan",
                    {"reason": "no_slots", "dates": [d.isoformat() for d in missing]},
                ),
            )
        key_prefix = f"seat-plan:{plan.id}:"
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            paid = await seat_plans.confirmed_slot_ids(
                conn, tenant_id=tenant_id, user_id=principal.user_id, key_prefix=key_prefix
            )
        to_pay = sum(s.price_paise for s in slots if s.slot_id not in paid)
        await self._check_wallet(
            tenant_id, principal.user_id, to_pay, plan.id if not paid else None
        )
        holds = await self._hold_all(principal, tenant_id, plan.id, key_prefix, slots)
        gate = asyncio.Semaphore(PAY_CONCURRENCY)

        async def pay(hold: HoldState) -> None:
            async with gate:
                await self._hold_payments.pay_from_wallet(principal, hold.hold_id)

        await asyncio.gather(*(pay(h) for h in holds))
        async with tenant_scope(self._db, tenant_id) as conn:
            active = await seat_plans.activate(
                conn,
                plan=plan,
                booking_ids=[h.hold_id for h in holds],
                amount_paise=sum(s.price_paise for s in slots),
                plan_ends_at=max(s.ends_at for s in slots),
                resource_name=resource.name,
            )
            await audit.record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="seat_plan.booked",
                entity="seat_plan",
                entity_id=plan.id,
                after=active.wire(),
            )
        return await self._answer(active), True

    async def list_own(self, principal: Principal) -> dict[str, Any]:
        if principal.tenant_id is None:
            return {"plans": []}
        async with tenant_scope(self._db, principal.tenant_id, readonly=True) as conn:
            plans = await seat_plans.plans_of_user(
                conn, tenant_id=principal.tenant_id, user_id=principal.user_id
            )
        return {"plans": [p.wire() for p in plans]}

    async def _answer(self, plan: seat_plans.SeatPlan) -> dict[str, Any]:
        async with tenant_scope(self._db, plan.tenant_id, readonly=True) as conn:
            renewal = await seat_plans.renewal_reminders(
                conn, tenant_id=plan.tenant_id, plan_id=plan.id
            )
        return {**plan.wire(), "renewal_reminder": renewal[0] if renewal else None}

    async def _check_wallet(
        self, tenant_id: UUID, user_id: UUID, amount: int, fail_plan_id: UUID | None
    ) -> None:
        """Refuse before any hold is made if the wallet cannot pay what is still unpaid (the
        saga would otherwise confirm some days and not others). A plan with days already paid
        (a retry) stays pending: top up and send the same key again."""
        if amount <= 0:
            return
        async with self._db.acquire() as conn:
            wallet = await ledger_db.ensure_account(
                conn,
                code="user_wallet",
                currency="INR",
                tenant_id=tenant_id,
                owner_user_id=user_id,
                limited=True,
            )
            account = await ledger_db.get_account(conn, account_id=wallet)
        available = account.available if account is not None else 0
        if available < amount:
            error = InsufficientFunds(
                "the wallet cannot pay for the whole plan",
                {"available": available, "amount": amount},
            )
            if fail_plan_id is None:
                raise error
            await self._fail(fail_plan_id, error)

    async def _hold_all(
        self,
        principal: Principal,
        tenant_id: UUID,
        plan_id: UUID,
        key_prefix: str,
        slots: list[seat_plans.PlanSlot],
    ) -> list[HoldState]:
        results = await asyncio.gather(
            *(
                self._shards.execute(
                    CreateHoldCommand(
                        tenant_id=tenant_id,
                        user_id=principal.user_id,
                        slot_id=s.slot_id,
                        qty=1,
                        idempotency_key=f"{key_prefix}{s.slot_id}",
                    )
                )
                for s in slots
            ),
            return_exceptions=True,
        )
        holds = [r for r in results if isinstance(r, HoldState)]
        refused: list[tuple[date, SevaError]] = []
        for slot, result in zip(slots, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, SevaError) or isinstance(result, Unavailable):
                    raise result  # outcome unknown: the plan stays pending, retry the key
                refused.append((slot.local_date, result))
            elif result.status not in ("held", "confirmed"):
                refused.append(
                    (slot.local_date, Conflict("the hold was released", {"status": result.status}))
                )
        if not refused:
            return holds
        await asyncio.gather(
            *(
                self._shards.execute(
                    ReleaseHoldCommand(
                        tenant_id=tenant_id,
                        user_id=principal.user_id,
                        hold_id=h.hold_id,
                        may_release_any=False,
                    )
                )
                for h in holds
                if h.status == "held"
            ),
            return_exceptions=True,
        )
        day, error = refused[0]
        details = error.details if isinstance(error.details, dict) else {}
        await self._fail(
            plan_id,
            type(error)(
                f"the seat is not free on {day.isoformat()}: {error.message}",
                {**details, "date": day.isoformat(), "reason": details.get("reason", error.code)},
            ),
        )

    async def _fail(self, plan_id: UUID, error: SevaError) -> NoReturn:
        """Record the plan as failed and raise ``error``."""
        async with self._db.acquire() as conn:
            await seat_plans.fail(
                conn, plan_id=plan_id, failure={"code": error.code, **(error.details or {})}
            )
        raise error
