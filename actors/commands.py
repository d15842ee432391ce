"""Commands the hub sends to a tenant's logical actor (picklable, crossing into Ray).

Every command is safe to send twice: creating a hold carries an idempotency key; releasing or
confirming a hold that is already released/confirmed answers the hold as it is; setting a
slot's capacity to what it already is changes nothing; rescheduling a booking carries an
idempotency key and a retry answers the move made the first time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class CreateHoldCommand:
    tenant_id: UUID
    user_id: UUID
    slot_id: UUID
    qty: int
    idempotency_key: str
    extras: dict[str, Any] | None = None  # booking extras, already checked by the hub
    # A shorter life than the tenant's hold TTL (a waiting list's offer); None: the tenant's.
    ttl_secs: int | None = None
    # An offer to a waiting list's head: may take the places reserved for the waitlist.
    for_waitlist: bool = False


@dataclass(frozen=True)
class ReleaseHoldCommand:
    tenant_id: UUID
    user_id: UUID
    hold_id: UUID
    may_release_any: bool


@dataclass(frozen=True)
class ConfirmHoldCommand:
    tenant_id: UUID
    hold_id: UUID


@dataclass(frozen=True)
class ConfirmHoldGroupCommand:
    """Confirm linked holds together, all or nothing (a devotional booking group paid at
    once). Answered with the confirmed holds, in order; a group already confirmed is answered
    as it is; if any hold is not live the whole command is refused (Conflict naming it)."""

    tenant_id: UUID
    hold_ids: tuple[UUID, ...]


@dataclass(frozen=True)
class CancelBookingCommand:
    """Give a confirmed booking's places back (idempotent for a cancelled one)."""

    tenant_id: UUID
    user_id: UUID
    hold_id: UUID
    may_cancel_any: bool


@dataclass(frozen=True)
class RescheduleBookingCommand:
    """Move a confirmed booking to ``to_slot_id`` (same tenant). Answered with
    :class:`storage.records.Reschedule`; the same ``idempotency_key`` answers the same move.
    No fee is charged: a reschedule fee policy is a platform decision still to come."""

    tenant_id: UUID
    user_id: UUID
    hold_id: UUID
    to_slot_id: UUID
    idempotency_key: str
    may_reschedule_any: bool


@dataclass(frozen=True)
class SetSlotCapacityCommand:
    """Answered with :class:`SlotCapacitySet`; refused (Conflict) below held + confirmed."""

    tenant_id: UUID
    slot_id: UUID
    capacity: int


@dataclass(frozen=True)
class ReserveForWaitlistCommand:
    """Keep ``qty`` free places of a slot for its waiting list (the qty its waiters are
    queued for; 0 ends it): a plain hold cannot take them, only an offer
    (``CreateHoldCommand(for_waitlist=True)``). Answered with :class:`WaitlistReserved`."""

    tenant_id: UUID
    slot_id: UUID
    qty: int


@dataclass(frozen=True)
class WaitlistReserved:
    slot_id: UUID
    qty: int


@dataclass(frozen=True)
class RefreshTenantCommand:
    """Reload the tenant (plan limits, hold TTL, archived resources) from the database after
    an administrator changed it. Answered with :class:`TenantRefreshed`."""

    tenant_id: UUID


@dataclass(frozen=True)
class TenantRefreshed:
    tenant_id: UUID


@dataclass(frozen=True)
class SlotCapacitySet:
    slot_id: UUID
    capacity_before: int
    capacity: int
    available: int


HoldCommand = CreateHoldCommand | ReleaseHoldCommand | ConfirmHoldCommand | CancelBookingCommand
InventoryCommand = (
    HoldCommand
    | RescheduleBookingCommand
    | SetSlotCapacityCommand
    | RefreshTenantCommand
    | ReserveForWaitlistCommand
    | ConfirmHoldGroupCommand
)
