"""Payments on the wire: starting one, the checkout callback, refunds."""

from __future__ import annotations

from typing import Literal, Self
from uuid import UUID

from pydantic import Field, StrictInt, model_validator

from protocols.wire import IdempotencyKey, WireModel


class CreatePaymentIntent(WireModel):
    """``POST /payments/intents``: pay for a slot hold (``ref`` = hold id; the amount is the
    hold's price, and a given ``amount_paise`` must agree), or top up a wallet (``ref`` = the
    caller's INR wallet id, optional; ``amount_paise`` required)."""

    purpose: Literal["hold", "wallet_topup"]
    ref: UUID | None = None
    amount_paise: StrictInt | None = Field(default=None, gt=0, le=10_000_000_00)
    idempotency_key: IdempotencyKey | None = None

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.purpose == "hold" and self.ref is None:
            raise ValueError("a hold payment gives the hold id as ref")
        if self.purpose == "wallet_topup" and self.amount_paise is None:
            raise ValueError("a wallet top-up gives amount_paise")
        return self


class VerifyCheckout(WireModel):
    """What Razorpay's checkout hands the app after a payment."""

    razorpay_order_id: str = Field(min_length=1, max_length=100)
    razorpay_payment_id: str = Field(min_length=1, max_length=100)
    razorpay_signature: str = Field(min_length=1, max_length=200)


class CreateRefund(WireModel):
    amount_paise: StrictInt | None = Field(default=None, gt=0)
    reason: str = Field(default="", max_length=500)
    idempotency_key: IdempotencyKey | None = None


class CancelBooking(WireModel):
    """``POST /bookings/{hold_id}/cancel``: the tenant's cancellation policy decides how much
    comes back; ``source`` = the gateway (or wallet) that paid, ``wallet`` = the user's wallet."""

    refund_to: Literal["source", "wallet"] = "source"
    reason: str = Field(default="", max_length=500)
