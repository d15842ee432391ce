"""Consultations (astrology) at the edge: a tenant's consultation settings, a booking's
meeting room, and rescheduling with the "first reschedule free, then a fee" policy.

A paid move touches two logical actors (the client's wallet, the tenant's inventory), so it is
a small saga keyed by the move's idempotency key (table ``reschedule_fees``): reserve the fee
(a pending transfer from the booking owner's INR wallet), move the booking through the
tenant's actor, then post the fee — or void it if the move was refused. Insufficient funds
refuse the move before it is tried. A retry with the same key finds the fee row and the move
and finishes what is left (posting is idempotent); a reservation left behind by a crash is
released by its timeout (``FEE_RESERVATION_SECS``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from actors.ledger import PostSpec, TransferSpec, VoidSpec
from hub.auth import Principal
from hub.booking_access import check_booking_reader, tenant_of_booking
from hub.holds import HoldService
from hub.wallets import WalletService
from protocols.consultations import ConsultationSettings, reschedule_fee
from protocols.errors import Conflict, NotFound, SevaError, Unavailable
from protocols.reminders import RescheduleBooking
from storage import consultations as store
from storage import ledger as ledger_db
from storage import live_status, meetings
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

FEE_RESERVATION_SECS = 900
FEE_CODE = "reschedule_fee"


async def wallet_accounts(db: asyncpg.Pool, *, tenant_id: UUID, user_id: UUID) -> tuple[UUID, UUID]:
    """(the user's INR wallet, the tenant's payable account), opened if missing."""
    async with db.acquire() as conn:
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=tenant_id,
            owner_user_id=user_id,
            limited=True,
        )
        payable = await ledger_db.ensure_account(
            conn, code="tenant_payable", currency="INR", tenant_id=tenant_id
        )
    return wallet, payable


class ConsultationService:
    def __init__(self, *, db: asyncpg.Pool, holds: HoldService, wallets: WalletService) -> None:
        self._db = db
        self._holds = holds
        self._wallets = wallets

    # -- settings ------------------------------------------------------------------------------

    async def get_settings(self, principal: Principal, tenant_id: UUID) -> dict[str, Any]:
        _check_tenant(principal, tenant_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            found = await store.get_settings(conn, tenant_id=tenant_id)
        return found.wire()

    async def put_settings(
        self, principal: Principal, tenant_id: UUID, body: ConsultationSettings
    ) -> dict[str, Any]:
        _check_tenant(principal, tenant_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            saved = await store.put_settings(
                conn,
                tenant_id=tenant_id,
                meeting_base_url=body.meeting_base_url,
                reschedule_fee_paise=body.reschedule_fee_paise,
                free_reschedules=body.free_reschedules,
            )
        return saved.wire()

    # -- meeting -------------------------------------------------------------------------------

    async def meeting(self, principal: Principal, booking_id: UUID) -> dict[str, Any]:
        """The booking's room, for its owner and member accounts and the tenant's staff
        (others: NotFound). NotFound too if the booking has none (not a consultation, or not
        confirmed)."""
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            booking = await live_status.load(conn, tenant_id=tenant_id, booking_id=booking_id)
            if booking is None:
                raise NotFound("no such booking", {"booking_id": str(booking_id)})
            check_booking_reader(principal, booking)
            found = await meetings.get(conn, tenant_id=tenant_id, booking_id=booking_id)
        if found is None:
            raise NotFound(
                "this booking has no meeting room",
                {"booking_id": str(booking_id), "reason": "no_meeting"},
            )
        return found.wire()

    # -- reschedule ----------------------------------------------------------------------------

    async def reschedule(
        self, principal: Principal, booking_id: UUID, request: RescheduleBooking
    ) -> dict[str, Any]:
        """Move the booking (:meth:`HoldService.reschedule`), charging the tenant's fee when
        the booking's owner moves it past the free reschedules. Moves by the tenant's staff are
        never charged. Raises InsufficientFunds (nothing moved) and whatever the move raises
        (the fee is then voided)."""
        tenant_id = await tenant_of_booking(self._db, principal, booking_id)
        key = request.idempotency_key
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            context = await store.reschedule_context(
                conn, tenant_id=tenant_id, booking_id=booking_id, idempotency_key=key
            )
            policy = await store.get_settings(conn, tenant_id=tenant_id)
        if context is None:
            raise NotFound("no such booking", {"booking_id": str(booking_id)})
        fee = context.fee
        if fee is None and not context.key_moved and principal.user_id == context.owner_user_id:
            amount = reschedule_fee(
                moves_before=context.moves_before,
                free_reschedules=policy.free_reschedules,
                fee_paise=policy.reschedule_fee_paise,
            )
            if amount > 0:
                fee = await self._reserve(tenant_id, booking_id, key, context.owner_user_id, amount)
        elif fee is not None and fee.state == "reserved":
            await self._reserve_again(fee, tenant_id)
        try:
            moved = await self._holds.reschedule(principal, booking_id, request)
        except Unavailable:
            raise  # outcome unknown: keep the reservation for the retry with the same key
        except SevaError:
            if fee is not None and fee.state == "reserved":
                await self._void(fee, tenant_id)
            raise
        charged = 0
        if fee is not None:
            await self._post(fee, tenant_id)
            charged = fee.fee_paise
        return {
            **moved,
            "fee_paise": charged,
            "fee_transfer_id": fee.transfer_id if fee is not None else None,
        }

    async def _reserve(
        self, tenant_id: UUID, booking_id: UUID, key: str, user_id: UUID, amount: int
    ) -> store.RescheduleFee:
        async with tenant_scope(self._db, tenant_id) as conn:
            fee = await store.insert_fee(
                conn,
                tenant_id=tenant_id,
                hold_id=booking_id,
                idempotency_key=key,
                user_id=user_id,
                fee_paise=amount,
                transfer_id=f"{tenant_id}:{FEE_CODE}:{booking_id}:{uuid.uuid4()}",
            )
        await self._reserve_again(fee, tenant_id)
        return fee

    async def _reserve_again(self, fee: store.RescheduleFee, tenant_id: UUID) -> None:
        """The fee's pending transfer (idempotent by its id). On a refusal (insufficient
        funds, an expired reservation) the fee row is forgotten and the error raised."""
        wallet, payable = await wallet_accounts(self._db, tenant_id=tenant_id, user_id=fee.user_id)
        try:
            await self._wallets.apply(
                (
                    TransferSpec(
                        fee.transfer_id,
                        wallet,
                        payable,
                        fee.fee_paise,
                        code=FEE_CODE,
                        pending=True,
                        timeout_secs=FEE_RESERVATION_SECS,
                        user_data={"booking_id": str(fee.hold_id), "key": fee.idempotency_key},
                    ),
                )
            )
        except Unavailable:
            raise
        except SevaError:
            async with tenant_scope(self._db, tenant_id) as conn:
                await store.delete_fee(
                    conn,
                    tenant_id=tenant_id,
                    hold_id=fee.hold_id,
                    idempotency_key=fee.idempotency_key,
                )
            raise

    async def _post(self, fee: store.RescheduleFee, tenant_id: UUID) -> None:
        if fee.state != "posted":
            try:
                await self._wallets.apply((PostSpec(f"{fee.transfer_id}:post", fee.transfer_id),))
            except Conflict as exc:
                if (exc.details or {}).get("reason") != "already_posted":
                    # The reservation ran out between the move and now: the move stays, the
                    # fee is not taken (logged for the operator).
                    log.warning("reschedule fee %s not posted: %s", fee.transfer_id, exc)
                    return
        await self._set_state(fee, tenant_id, "posted")

    async def _void(self, fee: store.RescheduleFee, tenant_id: UUID) -> None:
        try:
            await self._wallets.apply((VoidSpec(f"{fee.transfer_id}:void", fee.transfer_id),))
        except Conflict as exc:
            if (exc.details or {}).get("reason") not in ("already_voided", "already_expired"):
                raise
        async with tenant_scope(self._db, tenant_id) as conn:
            await store.delete_fee(
                conn, tenant_id=tenant_id, hold_id=fee.hold_id, idempotency_key=fee.idempotency_key
            )

    async def _set_state(self, fee: store.RescheduleFee, tenant_id: UUID, state: str) -> None:
        async with tenant_scope(self._db, tenant_id) as conn:
            await store.set_fee_state(
                conn,
                tenant_id=tenant_id,
                hold_id=fee.hold_id,
                idempotency_key=fee.idempotency_key,
                state=state,
            )


def _check_tenant(principal: Principal, tenant_id: UUID) -> None:
    if not principal.may_act_in(tenant_id):
        raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
