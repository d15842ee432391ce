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


# -- REST answers ----------------------------------------------------------------------------


class RazorpayCheckout(WireModel):
    key_id: str | None = Field(description="the merchant key Razorpay Checkout opens with")
    order_id: str | None
    amount: int = Field(description="paise")


class CashfreeCheckout(WireModel):
    payment_session_id: str | None
    order_id: str | None


class CheckoutView(WireModel):
    """What the app's checkout needs, in the live attempt's gateway's own terms: exactly one
    of ``razorpay`` or ``cashfree``."""

    razorpay: RazorpayCheckout | None = None
    cashfree: CashfreeCheckout | None = None
    attempt_id: UUID


class PaymentAttemptView(WireModel):
    attempt_id: UUID
    gateway: Literal["razorpay", "cashfree"]
    status: Literal["creating", "open", "error", "failed", "paid"]
    gateway_order_id: str | None
    fee_paise: int
    route_reason: str = Field(description="why the router chose this gateway, e.g. cheapest")


class PaymentRefundView(WireModel):
    refund_id: UUID
    amount_paise: int
    status: Literal["requested", "pending", "processed", "failed"]
    reason: str


class PaymentView(WireModel):
    """A payment intent with its gateway attempts and refunds (``POST /payments/intents``,
    ``GET /payments/{payment_id}``, ``.../verify``, ``.../refunds``)."""

    payment_id: UUID
    purpose: str = Field(description="hold, wallet_topup, split_share or booking_group")
    hold_id: UUID | None
    amount_paise: int
    status: Literal["created", "failed", "captured"]
    outcome: str | None = Field(
        description="what the captured money became, e.g. booking_confirmed, wallet_credited, "
        "refunded_unfulfillable"
    )
    captured_paise: int
    refunded_paise: int
    gateway: Literal["razorpay", "cashfree"] | None = Field(
        description="the open or paid attempt's gateway"
    )
    fee_paise: int | None
    checkout: CheckoutView | None
    attempts: list[PaymentAttemptView]
    refunds: list[PaymentRefundView]


class ShareRefund(WireModel):
    user_id: UUID
    refund_paise: int
    refunded_to: str | None


class BookingCancelled(WireModel):
    """``POST /bookings/{hold_id}/cancel``: the decision taken at the first cancellation
    (repeats answer the same)."""

    hold_id: UUID
    status: str = Field(description="the hold's status after cancelling")
    refund_percent: int
    refund_paise: int
    refunded_to: Literal["source", "wallet"] | None = Field(description="null: nothing back")
    shares: list[ShareRefund] | None = Field(
        default=None, description="split-paid bookings only: each payer's refund"
    )
