"""Rows that the inventory actors own, as plain dataclasses shared by the rules and the SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from protocols.holds import HoldStatus

DEFAULT_HOLD_TTL_SECS = 600


@dataclass
class SlotState:
    slot_id: UUID
    tenant_id: UUID
    resource_id: UUID
    stream: str
    starts_at: datetime
    capacity: int
    held_qty: int
    confirmed_qty: int
    version: int
    bookable: bool = True  # False once its resource is archived

    @property
    def available(self) -> int:
        return self.capacity - self.held_qty - self.confirmed_qty


@dataclass(frozen=True)
class HoldState:
    hold_id: UUID
    tenant_id: UUID
    slot_id: UUID
    user_id: UUID
    qty: int
    status: HoldStatus
    idempotency_key: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    # Booking extras (participants, special requests) as checked by the hub; None if none.
    extras: dict[str, Any] | None = None


@dataclass(frozen=True)
class AvailabilityEvent:
    tenant_id: UUID
    stream: str
    seq: int
    slot_id: UUID
    available: int

    def payload(self) -> dict[str, Any]:
        """The wire shape of ``availability`` (protocols.availability.AvailabilityChanged)."""
        return {
            "stream": self.stream,
            "seq": self.seq,
            "slots": [{"slot_id": str(self.slot_id), "available": self.available}],
        }


@dataclass(frozen=True)
class AuditEntry:
    tenant_id: UUID
    actor_user_id: UUID | None
    action: str
    subject_id: UUID
    data: dict[str, Any]


@dataclass(frozen=True)
class TenantPolicy:
    """What a tenant's logical actor needs to know about the tenant itself."""

    hold_ttl_secs: int
    timezone: str
    max_monthly_bookings: int | None
    bookings_this_month: int  # live and confirmed holds made this calendar month (tenant time)


@dataclass(frozen=True)
class Reschedule:
    """One move of a confirmed booking to another slot, keyed by (hold, idempotency key): a
    retry with the key answers this record instead of moving again."""

    hold_id: UUID
    tenant_id: UUID
    idempotency_key: str
    from_slot_id: UUID
    to_slot_id: UUID
    user_id: UUID  # the booking's owner
    by_user_id: UUID
    qty: int
    at: datetime
