"""Devotional platform (temples) on the wire: puja bookings with sankalp details and chadhava
offerings, multi-day yatra bookings, waiting lists of sold-out slots, the pandit's view and
earnings, and the platform's commission per tenant."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StrictInt, StringConstraints, field_validator

from protocols.catalog import Participant
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
