"""Devotional platform (temples) on the wire: puja bookings with sankalp details and chadhava
offerings, multi-day yatra bookings, waiting lists of sold-out slots, the pandit's view and
earnings, and the platform's commission per tenant."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StrictInt, StringConstraints, field_validator

from protocols.catalog import Participant, ResourceKind
from protocols.live import LiveStatus
from protocols.payments import PaymentView
from protocols.wire import IdempotencyKey, IsoDate, WireModel

MAX_OFFERINGS = 20
MAX_YATRA_DAYS = 30
DEFAULT_COMMISSION_BP = 1000  # 10 %
WAITLIST_OFFER_EVENT = "waitlist:offer"

WaitlistStatus = Literal["waiting", "offered", "accepted", "lapsed", "cancelled"]


class Offering(WireModel):
    """A chadhava add-on: ``qty`` units of a chadhava resource's stock on the puja's day."""

    resource_id: UUID
    qty: StrictInt = Field(ge=1, le=100)


class BookPuja(WireModel):
    """``POST /api/v1/devotional/bookings``. One name per participant; the puja takes one
    place per name (``qty`` = number of names), so a group puja's capacity counts names."""

    slot_id: UUID
    participants: list[Participant] = Field(min_length=1, max_length=100)
    special_requests: Annotated[str, StringConstraints(max_length=1000)] | None = None
    offerings: list[Offering] = Field(default_factory=list, max_length=MAX_OFFERINGS)
    idempotency_key: IdempotencyKey

    @field_validator("offerings")
    @classmethod
    def _one_line_per_offering(cls, value: list[Offering]) -> list[Offering]:
        if len({o.resource_id for o in value}) != len(value):
            raise ValueError("each offering resource may appear once (raise its qty instead)")
        return value


class BookYatra(WireModel):
    """``POST /api/v1/devotional/yatra-bookings``: ``qty`` places on each of ``days``
    consecutive days of a yatra resource, from ``start_date`` (the tenant's calendar)."""

    resource_id: UUID
    start_date: IsoDate
    days: StrictInt = Field(ge=1, le=MAX_YATRA_DAYS)
    qty: StrictInt = Field(ge=1, le=100)
    idempotency_key: IdempotencyKey


class JoinWaitlist(WireModel):
    """``POST /api/v1/slots/{slot_id}/waitlist``."""

    qty: StrictInt = Field(ge=1, le=100)
    idempotency_key: IdempotencyKey


class SetCommission(WireModel):
    """``PUT /api/v1/admin/tenants/{tenant_id}/commission``: basis points of each completed
    booking's price kept by the platform (1000 = 10 %)."""

    commission_bp: StrictInt = Field(ge=0, le=10_000)


def split_commission(gross_paise: int, commission_bp: int) -> tuple[int, int]:
    """``(commission, net)`` of ``gross_paise``: the commission rounded down to whole paise,
    so the pandit never gets less than the exact share and the two always add up."""
    commission = gross_paise * commission_bp // 10_000
    return commission, gross_paise - commission


class PayGroup(WireModel):
    """``POST /api/v1/devotional/bookings/{group_id}/pay``: pay the whole group at once."""

    method: Literal["wallet", "gateway"]
    idempotency_key: IdempotencyKey


# -- answers ---------------------------------------------------------------------------------

HoldState = Literal["held", "confirmed", "released", "expired", "cancelled"]


class GroupHold(WireModel):
    """One hold of a group booking, in booking order (the puja or first yatra day first)."""

    hold_id: UUID
    role: Literal["puja", "offering", "day"]
    slot_id: UUID
    resource_id: UUID
    resource_name: str
    kind: ResourceKind
    date: Date = Field(description="the slot's local date")
    starts_at: datetime
    qty: int
    status: HoldState
    expires_at: datetime
    amount_paise: int = Field(description="the slot's price times qty")


class GroupBooking(WireModel):
    """A puja (with its chadhava offerings) or yatra group booking: ``POST`` (201 made now, 200
    the same key again), ``GET``, ``DELETE`` and ``pay-from-wallet`` answer it."""

    group_id: UUID
    kind: Literal["puja", "yatra"]
    user_id: UUID
    idempotency_key: str
    created_at: datetime
    booking_id: UUID | None = Field(description="the first hold (the puja, or the first day)")
    status: HoldState | Literal["mixed"] = Field(
        description="the holds' common status, or mixed when they differ"
    )
    amount_paise: int
    holds: list[GroupHold]


class WaitlistEntryView(WireModel):
    """A waiting-list entry (``POST /api/v1/slots/{slot_id}/waitlist``, ``GET`` and ``DELETE
    /api/v1/waitlist/{entry_id}``)."""

    entry_id: UUID
    slot_id: UUID
    qty: int
    status: WaitlistStatus
    position: int | None = Field(description="1 = next in line; null when not waiting")
    hold_id: UUID | None = Field(description="the hold offered to this entry")
    offer_expires_at: datetime | None
    created_at: datetime
    idempotency_key: str


class AssignedOffering(WireModel):
    resource_id: UUID
    name: str
    qty: int
    status: HoldState


class AssignedBooking(WireModel):
    """A confirmed booking assigned to a pandit, with its sankalp details."""

    booking_id: UUID
    resource_id: UUID
    resource_name: str
    kind: ResourceKind
    slot_id: UUID
    date: Date
    starts_at: datetime
    ends_at: datetime
    qty: int
    devotee_user_id: UUID
    devotee_name: str
    participants: list[Participant]
    special_requests: str | None
    offerings: list[AssignedOffering] = Field(description="chadhava booked with the puja")
    assigned_staff_id: UUID
    live_status: LiveStatus | None


class AssignedBookings(WireModel):
    """``GET /api/v1/staff/bookings``: soonest first."""

    staff_user_id: UUID | None = Field(description="null: every pandit's (a tenant admin)")
    bookings: list[AssignedBooking]


class EarningEntry(WireModel):
    booking_id: UUID
    gross_paise: int
    commission_bp: int = Field(description="basis points kept by the tenant")
    commission_paise: int
    net_paise: int
    transfer_id: str
    created_at: datetime
    posted: bool = Field(description="whether the net amount reached the pandit's account")


class StaffEarnings(WireModel):
    """``GET /api/v1/staff/earnings``: the pandit's account and posted totals, latest entries
    first."""

    staff_user_id: UUID
    account_id: UUID
    balance_paise: int
    commission_bp: int = Field(description="the tenant's commission for new earnings")
    bookings: int = Field(description="posted earnings counted in the totals")
    gross_paise: int
    commission_paise: int
    net_paise: int
    entries: list[EarningEntry]


class CommissionView(WireModel):
    """``PUT /api/v1/admin/tenants/{tenant_id}/commission``."""

    tenant_id: UUID
    commission_bp: int


class GroupPaymentView(WireModel):
    method: Literal["wallet", "gateway"]
    status: Literal["pending", "confirmed", "cancelled"]
    amount_paise: int
    idempotency_key: str
    payment_id: UUID | None = Field(description="the gateway payment, for method gateway")


class GroupPaid(WireModel):
    """``POST /api/v1/devotional/bookings/{group_id}/pay``: the group after the payment;
    ``payment`` is the gateway payment with its checkout (method ``gateway`` while pending),
    else null."""

    group: GroupBooking
    group_payment: GroupPaymentView
    payment: PaymentView | None
