"""Holds: a user's temporary claim on ``qty`` places of one slot until ``expires_at``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field, StrictInt

from protocols.catalog import BookingExtras
from protocols.wire import IdempotencyKey, WireModel

MAX_QTY_PER_HOLD = 100


class HoldStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # a confirmed booking given back


class CreateHold(WireModel):
    """``hold:create`` and ``POST /api/v1/holds``. Retrying with the same key returns the same
    hold; the same key with a different slot, qty or extras is a ``conflict``. ``extras``
    (participants, special requests) only for puja and chadhava."""

    slot_id: UUID
    qty: StrictInt = Field(ge=1, le=MAX_QTY_PER_HOLD)
    idempotency_key: IdempotencyKey
    extras: BookingExtras | None = None


class CreateHoldBody(WireModel):
    """REST body: the idempotency key may come in the ``Idempotency-Key`` header instead."""

    slot_id: UUID
    qty: StrictInt = Field(ge=1, le=MAX_QTY_PER_HOLD)
    idempotency_key: IdempotencyKey | None = None
    extras: BookingExtras | None = None


class ReleaseHold(WireModel):
    """``hold:release``; releasing an already released hold answers its current state."""

    hold_id: UUID


class PayHold(WireModel):
    """``hold:pay``: confirm the hold, paid from the caller's INR wallet."""

    hold_id: UUID


class HoldView(WireModel):
    hold_id: UUID
    slot_id: UUID
    qty: int
    status: HoldStatus
    expires_at: datetime
