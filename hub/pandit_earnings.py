"""Pandits' side of temple bookings: the bookings assigned to them (with sankalp details and
offerings), and their earnings.

Each booking whose live status reaches ``completed`` (``hub/live.py``) with an assigned staff
member credits that pandit's ``pandit_earnings`` ledger account with the booking's price
(slot price x qty) minus the platform's commission (the tenant's ``commission_bp``, default
10 %, rounded in the pandit's favour), the commission going to ``platform_commission``; both out
of ``tenant_payable`` (where the booking's payment was posted), as one linked group through the
wallet actors. Exactly once: the amounts are written once (a row keyed by the booking) before
the transfers, whose ids are fixed (``earnings:<booking id>:net`` / ``:commission``), and a
loop in every hub finishes any row not yet posted — a crash between steps repeats an
idempotent step, never the money.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import asyncpg

from actors.ledger import LedgerOp, TransferSpec
from hub.auth import Principal
from hub.background import cancel_and_wait, run_every
from hub.wallets import WalletService
from protocols.devotional import DEFAULT_COMMISSION_BP, split_commission
from protocols.errors import Forbidden, NotFound, SevaError
from protocols.permissions import Role
from storage import devotional as store
from storage import ledger as ledger_db
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

_BATCH = 100


class PanditEarnings:
    def __init__(self, *, db: asyncpg.Pool, wallets: WalletService, poll_secs: float) -> None:
        self._db = db
        self._wallets = wallets
        self._poll_secs = poll_secs
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            run_every(self._poll_secs, self.credit_completed, "pandit earnings")
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- crediting -----------------------------------------------------------------------------

    async def credit_completed(self) -> int:
        """Plan earnings of newly completed bookings and post every unposted one; returns how
        many were posted."""
        async with self._db.acquire() as conn:
            for booking in await store.completed_without_earnings(conn, limit=_BATCH):
                bp = booking.commission_bp
                bp = DEFAULT_COMMISSION_BP if bp is None else bp
                commission, net = split_commission(booking.gross_paise, bp)
                await store.plan_earning(
                    conn,
                    booking=booking,
                    commission_bp=bp,
                    commission_paise=commission,
                    net_paise=net,
                )
            rows = await store.unposted_earnings(conn, limit=_BATCH)
        posted = 0
        for row in rows:
            try:
                await self._post(row)
            except SevaError as exc:
                log.warning("earnings of booking %s not posted yet: %s", row["booking_id"], exc)
                continue
            posted += 1
        return posted

    async def _post(self, row: asyncpg.Record) -> None:
        tenant_id: UUID = row["tenant_id"]
        async with self._db.acquire() as conn:
            payable = await ledger_db.ensure_account(
                conn, code="tenant_payable", currency="INR", tenant_id=tenant_id
            )
            earnings = await ledger_db.ensure_account(
                conn,
                code="pandit_earnings",
                currency="INR",
                tenant_id=tenant_id,
                owner_user_id=row["staff_user_id"],
                limited=True,
            )
            platform = await ledger_db.ensure_account(
                conn, code="platform_commission", currency="INR"
            )
        data = {"booking_id": str(row["booking_id"]), "commission_bp": row["commission_bp"]}
        ops: list[LedgerOp] = []
        if row["net_paise"] > 0:
            ops.append(
                TransferSpec(
                    f"{row['transfer_id']}:net",
                    payable,
                    earnings,
                    row["net_paise"],
                    code="pandit_earning",
                    user_data=data,
                )
            )
        if row["commission_paise"] > 0:
            ops.append(
                TransferSpec(
                    f"{row['transfer_id']}:commission",
                    payable,
                    platform,
                    row["commission_paise"],
                    code="platform_commission",
                    user_data=data,
                )
            )
        if ops:
            await self._wallets.apply(tuple(ops))
        async with self._db.acquire() as conn:
            await store.mark_posted(conn, booking_id=row["booking_id"])

    # -- reading -------------------------------------------------------------------------------

    async def staff_of_request(
        self, principal: Principal, tenant_id: UUID, staff_user_id: UUID | None
    ) -> UUID | None:
        """Whose bookings or earnings the caller may read: staff their own (another staff
        member's: Forbidden); tenant admins anyone's, or (None) everyone's."""
        if principal.role in (Role.TENANT_ADMIN, Role.PLATFORM_ADMIN):
            if staff_user_id is not None:
                async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
                    if not await store.is_staff(conn, tenant_id=tenant_id, user_id=staff_user_id):
                        raise NotFound(
                            "no such staff member", {"staff_user_id": str(staff_user_id)}
                        )
            return staff_user_id
        if staff_user_id is not None and staff_user_id != principal.user_id:
            raise Forbidden("staff see only their own bookings and earnings")
        return principal.user_id

    async def assigned(
        self,
        principal: Principal,
        tenant_id: UUID,
        staff_user_id: UUID | None,
        from_day: Any,
        limit: int,
    ) -> dict[str, Any]:
        who = await self.staff_of_request(principal, tenant_id, staff_user_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            bookings = await store.assigned_bookings(
                conn, tenant_id=tenant_id, staff_user_id=who, from_day=from_day, limit=limit
            )
        return {"staff_user_id": str(who) if who else None, "bookings": bookings}

    async def earnings(
        self, principal: Principal, tenant_id: UUID, staff_user_id: UUID | None, limit: int
    ) -> dict[str, Any]:
        who = await self.staff_of_request(principal, tenant_id, staff_user_id) or (
            principal.user_id
        )
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            summary = await store.earnings_of(
                conn, tenant_id=tenant_id, staff_user_id=who, limit=limit
            )
            bp = await store.commission_bp(conn, tenant_id=tenant_id)
        async with self._db.acquire() as conn:
            account = await ledger_db.ensure_account(
                conn,
                code="pandit_earnings",
                currency="INR",
                tenant_id=tenant_id,
                owner_user_id=who,
                limited=True,
            )
            state = await ledger_db.get_account(conn, account_id=account)
        assert state is not None
        return {
            "staff_user_id": str(who),
            "account_id": str(account),
            "balance_paise": state.balance,
            "commission_bp": DEFAULT_COMMISSION_BP if bp is None else bp,
            **summary,
        }

    async def set_commission(self, tenant_id: UUID, bp: int) -> dict[str, Any] | None:
        """Applies to bookings completed from now on (planned earnings keep theirs); None for
        an unknown tenant."""
        async with self._db.acquire() as conn:
            if not await store.set_commission_bp(conn, tenant_id=tenant_id, bp=bp):
                return None
        return {"tenant_id": str(tenant_id), "commission_bp": bp}
