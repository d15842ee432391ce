"""A local Cashfree Payment Gateway: the subset of the PG Orders, Payments and Refunds API our
adapter uses, with state, a checkout stand-in, signed webhooks, and switchable faults.

The official ``cashfree-pg`` SDK runs against it unchanged when its shared ``ApiClient`` sends
requests to ``{emulator_url}/pg`` (an ``ApiClient`` subclass that fills ``call_api``'s ``_host``,
registered with ``ApiClient.set_default``; see ``tests/integration/test_gateway_emulators.py``).

Gateway API (headers ``x-client-id``, ``x-client-secret``, ``x-api-version`` — any version is
accepted, the last one seen is shown by ``GET /_emulator/merchants``; amounts in rupees as JSON
numbers with at most two decimals, held as integer paise; errors are
``{"message", "code", "type"}``)::

    POST  /pg/orders                           CreateOrderRequest -> OrderEntity
    GET   /pg/orders/{order_id}                -> OrderEntity
    PATCH /pg/orders/{order_id}                {"order_status": "TERMINATED"} -> OrderEntity
    GET   /pg/orders/{order_id}/payments       -> [PaymentEntity]
    GET   /pg/orders/{order_id}/payments/{cf_payment_id} -> PaymentEntity
    POST  /pg/orders/{order_id}/refunds        OrderCreateRefundRequest -> RefundEntity
    GET   /pg/orders/{order_id}/refunds        -> [RefundEntity]
    GET   /pg/orders/{order_id}/refunds/{refund_id} -> RefundEntity

Control API (besides the shared routes in :mod:`.control`); ``{ref}`` is an ``order_id`` or a
``payment_session_id``; as order ids are chosen by merchants, add ``"client_id"`` to the body
when two merchants use the same one (else ``409 ambiguous_order``)::

    POST /_emulator/merchants          {client_id, client_secret, webhook_url?} -> {"merchant"}
    GET  /_emulator/merchants          -> {"merchants": [...]} (no secrets)
    PUT  /_emulator/merchants/{client_id}/webhook   {url: str|null}
    POST /_emulator/orders/{ref}/pay     {client_id?, payment_group?: upi|credit_card|
                                          debit_card|net_banking} -> {order_id, cf_payment_id,
                                          payment_status: "SUCCESS", payment}
    POST /_emulator/orders/{ref}/fail    {client_id?, payment_group?, error_description?}
                                          -> {..., payment_status: "FAILED"}
    POST /_emulator/orders/{ref}/expire  {client_id?} -> {order}: ACTIVE -> EXPIRED

``pay`` is a successful checkout: a ``SUCCESS`` payment, the order ``PAID``, webhook
``PAYMENT_SUCCESS_WEBHOOK``. ``fail``: a ``FAILED`` payment, the order stays ``ACTIVE``, webhook
``PAYMENT_FAILED_WEBHOOK``. Refunds answer ``PENDING`` and turn ``SUCCESS`` after
``refund_settle_secs`` (default 0: right after the answer), sending ``REFUND_STATUS_WEBHOOK``;
with ``refund_settle_secs=None`` they are ``SUCCESS`` in the answer already. Webhooks go to the
order's ``order_meta.notify_url`` if it has one (payment events), else to the merchant's URL,
with headers ``x-webhook-signature`` (base64 HMAC-SHA256 of ``x-webhook-timestamp`` + raw body,
keyed with the client secret), ``x-webhook-timestamp`` (ms, fresh at every attempt) and
``x-webhook-version``. Cashfree sends no event id: deduplicate on ``cf_payment_id`` and type.

Emulated as Cashfree does:
- a duplicate ``order_id`` for the same merchant: ``409 order_already_exists``;
- ``x-idempotency-key`` on POST/PATCH: the same key with the same request replays the first
  successful answer; with a different request, ``422 idempotency_error``;
- an order past ``order_expiry_time`` reads as ``EXPIRED`` and cannot be paid;
- the sum of refunds never exceeds the payment (``400``); unknown ids ``404``; unknown or
  missing credentials ``401``; merchants see only their own orders (``404`` for others').

Emulator's own choices where the real API's exact answer is not known to us: a duplicate
``refund_id`` on an order is ``409 refund_already_exists`` (fetch it with
``GET .../refunds/{refund_id}``); over-refund is ``400 refund_amount_invalid``; refunding an
unpaid order is ``400 order_not_paid``; field errors are ``400 <field>_missing|_invalid``.
Differences: INR only; no payment sessions UI, splits, offers or settlements; ``TERMINATED`` is
immediate (no ``TERMINATION_REQUESTED``); ``cf_*`` ids are numeric strings.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from protocols.gateways.emulators.common import (
    ControlError,
    GatewayRefusal,
    ist_iso,
    ist_now,
    random_id,
    read_control,
    read_json_object,
)
from protocols.gateways.emulators.control import CONTROL_PREFIX, EmulatorCore, install_core
from protocols.gateways.emulators.webhooks import Signer, WebhookEvent, WebhookPolicy

MAX_AMOUNT_PAISE = 10**11
ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{3,45}$")
REFUND_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{3,40}$")
PaymentGroup = Literal["upi", "credit_card", "debit_card", "net_banking"]


# --- configuration -------------------------------------------------------------------------


class CashfreeMerchant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(min_length=1, max_length=128)
    client_secret: str = Field(min_length=1, max_length=256)
    webhook_url: str | None = None


class CashfreeEmulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    merchants: tuple[CashfreeMerchant, ...] = ()
    webhooks: WebhookPolicy = WebhookPolicy()
    refund_settle_secs: float | None = Field(default=0.0, ge=0, le=3600)
    """A number: refunds answer ``PENDING`` and turn ``SUCCESS`` that many seconds later.
    None: refunds are ``SUCCESS`` in the create answer."""
    default_order_expiry_secs: int = Field(default=30 * 86_400, ge=1)
    webhook_version: str = "2023-08-01"


class _WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None


class _Checkout(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str | None = None
    payment_group: PaymentGroup = "upi"
    error_description: str = "Payment failed: the issuing bank declined it"


class _Expire(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str | None = None


# --- state -----------------------------------------------------------------------------------


class OrderStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PAID = "PAID"
    EXPIRED = "EXPIRED"
    TERMINATED = "TERMINATED"


class PaymentStatus(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class RefundStatus(StrEnum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"


def rupees(paise: int) -> float:
    """Integer paise as the JSON number Cashfree answers with. Only at the wire: for amounts
    with two decimals the float's shortest repr is exactly the decimal (``1234.5``)."""
    return float(Decimal(paise) / 100)


@dataclass
class _Merchant:
    client_id: str
    client_secret: str
    webhook_url: str | None
    last_api_version: str | None = None


@dataclass
class _Order:
    cf_order_id: str
    order_id: str
    client_id: str
    amount: int
    currency: str
    customer_details: dict[str, Any]
    order_meta: dict[str, Any]
    order_note: str | None
    order_tags: dict[str, str] | None
    created_at: datetime
    expires_at: datetime
    payment_session_id: str
    status: OrderStatus = OrderStatus.ACTIVE
    payment_ids: list[str] = field(default_factory=list)
    refund_ids: list[str] = field(default_factory=list)

    def expire_if_due(self, now: datetime) -> None:
        if self.status is OrderStatus.ACTIVE and now >= self.expires_at:
            self.status = OrderStatus.EXPIRED

    def to_json(self) -> dict[str, Any]:
        return {
            "cf_order_id": self.cf_order_id,
            "order_id": self.order_id,
            "entity": "order",
            "order_currency": self.currency,
            "order_amount": rupees(self.amount),
            "order_status": self.status.value,
            "payment_session_id": self.payment_session_id,
            "order_expiry_time": ist_iso(self.expires_at),
            "order_note": self.order_note,
            "created_at": ist_iso(self.created_at),
            "order_splits": [],
            "customer_details": self.customer_details,
            "order_meta": self.order_meta,
            "order_tags": self.order_tags,
        }


@dataclass
class _Payment:
    cf_payment_id: str
    order_id: str
    client_id: str
    amount: int
    currency: str
    status: PaymentStatus
    payment_group: PaymentGroup
    at: datetime
    error: dict[str, str | None] | None = None

    def payment_method(self) -> dict[str, Any]:
        if self.payment_group == "upi":
            return {"upi": {"channel": "collect", "upi_id": "testsuccess@gocash"}}
        if self.payment_group == "net_banking":
            return {
                "netbanking": {
                    "channel": "link",
                    "netbanking_bank_code": 3021,
                    "netbanking_bank_name": "HDFC Bank",
                }
            }
        return {
            "card": {
                "channel": "link",
                "card_number": "XXXXXXXXXXXX1111",
                "card_network": "visa",
                "card_type": self.payment_group,
                "card_country": "IN",
                "card_bank_name": "HDFC BANK",
            }
        }

    def to_json(self) -> dict[str, Any]:
        succeeded = self.status is PaymentStatus.SUCCESS
        return {
            "cf_payment_id": self.cf_payment_id,
            "order_id": self.order_id,
            "entity": "payment",
            "error_details": self.error,
            "is_captured": succeeded,
            "order_amount": rupees(self.amount),
            "payment_group": self.payment_group,
            "payment_currency": self.currency,
            "payment_amount": rupees(self.amount),
            "payment_time": ist_iso(self.at),
            "payment_completion_time": ist_iso(self.at),
            "payment_status": self.status.value,
            "payment_message": "Transaction successful" if succeeded else "Transaction failed",
            "bank_reference": self.cf_payment_id[-9:] if succeeded else None,
            "auth_id": None,
            "order_currency": self.currency,
            "authorization": None,
            "payment_method": self.payment_method(),
        }


@dataclass
class _Refund:
    cf_refund_id: str
    refund_id: str
    order_id: str
    client_id: str
    cf_payment_id: str
    amount: int
    currency: str
    note: str | None
    speed: str
    created_at: datetime
    status: RefundStatus
    processed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        done = self.status is RefundStatus.SUCCESS
        return {
            "cf_payment_id": self.cf_payment_id,
            "cf_refund_id": self.cf_refund_id,
            "order_id": self.order_id,
            "refund_id": self.refund_id,
            "entity": "refund",
            "refund_amount": rupees(self.amount),
            "refund_currency": self.currency,
            "refund_note": self.note,
            "refund_status": self.status.value,
            "refund_arn": self.cf_refund_id[-10:] if done else None,
            "refund_charge": 0,
            "status_description": "Refund processed successfully" if done else "In Progress",
            "metadata": None,
            "refund_splits": [],
            "refund_type": "MERCHANT_INITIATED",
            "refund_mode": self.speed,
            "created_at": ist_iso(self.created_at),
            "processed_at": ist_iso(self.processed_at) if self.processed_at else None,
            "refund_speed": {
                "requested": self.speed,
                "accepted": self.speed,
                "processed": self.speed if done else None,
                "message": None,
            },
        }


def _refusal(
    status: int, code: str, message: str, *, kind: str = "invalid_request_error"
) -> GatewayRefusal:
    return GatewayRefusal(status, {"message": message, "code": code, "type": kind})


def render_error(status: int, message: str) -> web.Response:
    """Cashfree's error shape for injected faults and unknown routes."""
    if status >= 500:
        body = _refusal(status, "internal_error", message, kind="api_error").body
    else:
        body = _refusal(status, "request_invalid", message).body
    return web.json_response(body, status=status)


def webhook_signature(timestamp: str, body: bytes, client_secret: str) -> str:
    digest = hmac.new(client_secret.encode(), timestamp.encode() + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


class CashfreeLedger:
    """Merchants, orders, payments and refunds, per merchant; transitions refuse illegal moves."""

    def __init__(self, config: CashfreeEmulatorConfig, core: EmulatorCore) -> None:
        self.config = config
        self.core = core
        self.merchants: dict[str, _Merchant] = {}
        self.orders: dict[tuple[str, str], _Order] = {}
        self.sessions: dict[str, tuple[str, str]] = {}
        self.payments: dict[tuple[str, str], _Payment] = {}
        self.refunds: dict[tuple[str, str, str], _Refund] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._next_cf_id = int(time.time()) * 1000
        for merchant in config.merchants:
            self.register(merchant)

    def cf_id(self) -> str:
        self._next_cf_id += 1
        return str(self._next_cf_id)

    # merchants

    def register(self, merchant: CashfreeMerchant) -> _Merchant:
        self.merchants[merchant.client_id] = _Merchant(
            client_id=merchant.client_id,
            client_secret=merchant.client_secret,
            webhook_url=merchant.webhook_url,
        )
        return self.merchants[merchant.client_id]

    def authenticate(self, headers: Mapping[str, str]) -> _Merchant:
        merchant = self.merchants.get(headers.get("x-client-id", ""))
        secret = headers.get("x-client-secret", "")
        if merchant is None or not hmac.compare_digest(
            merchant.client_secret.encode(), secret.encode()
        ):
            raise _refusal(
                401, "request_failed", "authentication Failed", kind="authentication_error"
            )
        version = headers.get("x-api-version")
        if not version:
            raise _refusal(400, "request_failed", "x-api-version is missing in the request")
        merchant.last_api_version = version
        return merchant

    # lookups scoped to one merchant

    def order_of(self, merchant: _Merchant, order_id: str) -> _Order:
        order = self.orders.get((merchant.client_id, order_id))
        if order is None:
            raise _refusal(404, "order_not_found", "order does not exist")
        order.expire_if_due(ist_now())
        return order

    def payment_of(self, order: _Order, cf_payment_id: str) -> _Payment:
        payment = self.payments.get((order.client_id, cf_payment_id))
        if payment is None or payment.order_id != order.order_id:
            raise _refusal(404, "payment_not_found", "payment does not exist")
        return payment

    def refund_of(self, order: _Order, refund_id: str) -> _Refund:
        refund = self.refunds.get((order.client_id, order.order_id, refund_id))
        if refund is None:
            raise _refusal(404, "refund_not_found", "refund does not exist")
        return refund

    def control_order(self, ref: str, client_id: str | None) -> _Order:
        """The order a checkout refers to, by payment session id or order id."""
        if ref in self.sessions:
            candidates = [self.orders[self.sessions[ref]]]
        else:
            candidates = [
                order
                for (owner, order_id), order in self.orders.items()
                if order_id == ref and (client_id is None or owner == client_id)
            ]
        if not candidates:
            raise ControlError(404, "not_found", "no order with this order_id or session id")
        if len(candidates) > 1:
            raise ControlError(
                409, "ambiguous_order", "several merchants use this order_id: send client_id"
            )
        order = candidates[0]
        order.expire_if_due(ist_now())
        return order

    # transitions

    def create_order(self, merchant: _Merchant, body: Mapping[str, Any]) -> _Order:
        order_id = body.get("order_id")
        if order_id is None:
            order_id = random_id("order_", 20)
        elif not isinstance(order_id, str) or not ORDER_ID_PATTERN.match(order_id):
            raise _refusal(400, "order_id_invalid", "order_id : should be 3-45 of [A-Za-z0-9_-]")
        if (merchant.client_id, order_id) in self.orders:
            raise _refusal(409, "order_already_exists", "order with same id is already present")
        amount = _paise(body.get("order_amount"), "order_amount", minimum=100)
        currency = body.get("order_currency")
        if currency is None:
            raise _refusal(
                400, "order_currency_missing", "order_currency : is missing in the request"
            )
        if currency != "INR":
            raise _refusal(400, "order_currency_invalid", "order_currency : only INR is emulated")
        customer = body.get("customer_details")
        if not isinstance(customer, dict):
            raise _refusal(
                400, "customer_details_missing", "customer_details : is missing in the request"
            )
        for key, low in (("customer_id", 3), ("customer_phone", 10)):
            value = customer.get(key)
            if not isinstance(value, str) or len(value) < low:
                raise _refusal(400, f"{key}_invalid", f"customer_details.{key} : is invalid")
        meta = body.get("order_meta") or {}
        if not isinstance(meta, dict):
            raise _refusal(400, "order_meta_invalid", "order_meta : should be an object")
        now = ist_now()
        expires_at = now + timedelta(seconds=self.config.default_order_expiry_secs)
        if body.get("order_expiry_time") is not None:
            try:
                expires_at = datetime.fromisoformat(str(body["order_expiry_time"]))
            except ValueError as exc:
                raise _refusal(
                    400, "order_expiry_time_invalid", "order_expiry_time : is not ISO 8601"
                ) from exc
            if expires_at.tzinfo is None:
                raise _refusal(
                    400, "order_expiry_time_invalid", "order_expiry_time : needs a time zone"
                )
        tags = body.get("order_tags")
        order = _Order(
            cf_order_id=self.cf_id(),
            order_id=order_id,
            client_id=merchant.client_id,
            amount=amount,
            currency=currency,
            customer_details={
                key: customer.get(key)
                for key in ("customer_id", "customer_name", "customer_email", "customer_phone")
            },
            order_meta={
                "return_url": meta.get("return_url"),
                "notify_url": meta.get("notify_url"),
                "payment_methods": meta.get("payment_methods"),
            },
            order_note=body.get("order_note"),
            order_tags=dict(tags) if isinstance(tags, dict) else None,
            created_at=now,
            expires_at=expires_at,
            payment_session_id=random_id("session_", 64),
        )
        self.orders[(merchant.client_id, order_id)] = order
        self.sessions[order.payment_session_id] = (merchant.client_id, order_id)
        return order

    def terminate(self, order: _Order, body: Mapping[str, Any]) -> _Order:
        if body.get("order_status") != "TERMINATED":
            raise _refusal(400, "order_status_invalid", "order_status : should be TERMINATED")
        if order.status is not OrderStatus.ACTIVE:
            raise _refusal(
                400, "order_status_invalid", f"an order in {order.status} cannot be terminated"
            )
        order.status = OrderStatus.TERMINATED
        return order

    def expire(self, order: _Order) -> _Order:
        if order.status is not OrderStatus.ACTIVE:
            raise ControlError(409, "order_not_active", f"the order is {order.status}")
        order.expires_at = ist_now()
        order.status = OrderStatus.EXPIRED
        return order

    def pay(self, order: _Order, checkout: _Checkout) -> _Payment:
        payment = self._attempt(order, checkout, PaymentStatus.SUCCESS)
        order.status = OrderStatus.PAID
        self._send_payment_event("PAYMENT_SUCCESS_WEBHOOK", order, payment)
        return payment

    def fail(self, order: _Order, checkout: _Checkout) -> _Payment:
        payment = self._attempt(order, checkout, PaymentStatus.FAILED)
        payment.error = {
            "error_code": "TRANSACTION_DECLINED",
            "error_description": checkout.error_description,
            "error_reason": "auth_declined",
            "error_source": "bank",
            "error_code_raw": None,
            "error_description_raw": None,
        }
        self._send_payment_event("PAYMENT_FAILED_WEBHOOK", order, payment)
        return payment

    def refund(self, order: _Order, body: Mapping[str, Any]) -> _Refund:
        paid = [
            self.payments[(order.client_id, pid)]
            for pid in order.payment_ids
            if self.payments[(order.client_id, pid)].status is PaymentStatus.SUCCESS
        ]
        if order.status is not OrderStatus.PAID or not paid:
            raise _refusal(400, "order_not_paid", "refunds are allowed only on PAID orders")
        payment = paid[0]
        refund_id = body.get("refund_id")
        if refund_id is None:
            refund_id = random_id("refund_", 20)
        elif not isinstance(refund_id, str) or not REFUND_ID_PATTERN.match(refund_id):
            raise _refusal(400, "refund_id_invalid", "refund_id : should be 3-40 of [A-Za-z0-9_-]")
        if (order.client_id, order.order_id, refund_id) in self.refunds:
            raise _refusal(409, "refund_already_exists", "refund with this refund_id exists")
        amount = _paise(body.get("refund_amount"), "refund_amount", minimum=1)
        refunded = sum(
            self.refunds[(order.client_id, order.order_id, rid)].amount for rid in order.refund_ids
        )
        if amount > payment.amount - refunded:
            raise _refusal(
                400,
                "refund_amount_invalid",
                "refund_amount : is greater than the refundable amount "
                f"{rupees(payment.amount - refunded)}",
            )
        speed = body.get("refund_speed") or "STANDARD"
        if speed not in ("STANDARD", "INSTANT"):
            raise _refusal(400, "refund_speed_invalid", "refund_speed : STANDARD or INSTANT")
        settle_secs = self.config.refund_settle_secs
        refund = _Refund(
            cf_refund_id=self.cf_id(),
            refund_id=refund_id,
            order_id=order.order_id,
            client_id=order.client_id,
            cf_payment_id=payment.cf_payment_id,
            amount=amount,
            currency=order.currency,
            note=body.get("refund_note"),
            speed=speed,
            created_at=ist_now(),
            status=RefundStatus.PENDING,
        )
        self.refunds[(order.client_id, order.order_id, refund_id)] = refund
        order.refund_ids.append(refund_id)
        if settle_secs is None:
            self._settle(refund)
        else:
            self.core.tasks.spawn(self._settle_later(refund, settle_secs), name="emulator-refund")
        return refund

    async def _settle_later(self, refund: _Refund, delay_secs: float) -> None:
        await asyncio.sleep(delay_secs)
        self._settle(refund)

    def _settle(self, refund: _Refund) -> None:
        if refund.status is not RefundStatus.PENDING:
            return
        refund.status = RefundStatus.SUCCESS
        refund.processed_at = ist_now()
        merchant = self.merchants[refund.client_id]
        self._send(
            merchant, merchant.webhook_url, "REFUND_STATUS_WEBHOOK", {"refund": refund.to_json()}
        )

    def _attempt(self, order: _Order, checkout: _Checkout, status: PaymentStatus) -> _Payment:
        if order.status is not OrderStatus.ACTIVE:
            raise ControlError(409, "order_not_active", f"the order is {order.status}")
        payment = _Payment(
            cf_payment_id=self.cf_id(),
            order_id=order.order_id,
            client_id=order.client_id,
            amount=order.amount,
            currency=order.currency,
            status=status,
            payment_group=checkout.payment_group,
            at=ist_now(),
        )
        self.payments[(order.client_id, payment.cf_payment_id)] = payment
        order.payment_ids.append(payment.cf_payment_id)
        return payment

    def _send_payment_event(self, event: str, order: _Order, payment: _Payment) -> None:
        merchant = self.merchants[order.client_id]
        entity = payment.to_json()
        entity.pop("order_id")
        entity.pop("order_amount")
        entity.pop("order_currency")
        data: dict[str, Any] = {
            "order": {
                "order_id": order.order_id,
                "order_amount": rupees(order.amount),
                "order_currency": order.currency,
                "order_tags": order.order_tags,
            },
            "payment": entity,
            "customer_details": order.customer_details,
            "payment_gateway_details": {
                "gateway_name": "CASHFREE",
                "gateway_order_id": order.cf_order_id,
                "gateway_payment_id": payment.cf_payment_id,
                "gateway_status_code": None,
            },
            "payment_offers": None,
        }
        if payment.error is not None:
            data["error_details"] = payment.error
        url = order.order_meta.get("notify_url") or merchant.webhook_url
        self._send(merchant, url, event, data)

    def _send(self, merchant: _Merchant, url: str | None, event: str, data: dict[str, Any]) -> None:
        body = json.dumps(
            {"data": data, "event_time": ist_iso(ist_now()), "type": event},
            separators=(",", ":"),
        ).encode()
        self.core.webhooks.submit(
            [
                WebhookEvent(
                    event_id=random_id("cfevt_"),
                    event=event,
                    merchant=merchant.client_id,
                    url=url,
                    body=body,
                    sign=_signer(merchant, self.config.webhook_version),
                )
            ]
        )


def _signer(merchant: _Merchant, version: str) -> Signer:
    def sign(body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time() * 1000))
        return {
            "x-webhook-signature": webhook_signature(timestamp, body, merchant.client_secret),
            "x-webhook-timestamp": timestamp,
            "x-webhook-version": version,
        }

    return sign


def _paise(value: Any, name: str, *, minimum: int) -> int:
    """A rupee amount (JSON int or Decimal) as integer paise; refuses more than two decimals."""
    if value is None:
        raise _refusal(400, f"{name}_missing", f"{name} : is missing in the request")
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _refusal(400, f"{name}_invalid", f"{name} : should be a number")
    try:
        scaled = Decimal(value) * 100
    except InvalidOperation as exc:
        raise _refusal(400, f"{name}_invalid", f"{name} : should be a number") from exc
    if scaled != scaled.to_integral_value():
        raise _refusal(400, f"{name}_invalid", f"{name} : at most two decimals")
    paise = int(scaled)
    if paise < minimum or paise > MAX_AMOUNT_PAISE:
        raise _refusal(400, f"{name}_invalid", f"{name} : out of range")
    return paise


# --- HTTP ------------------------------------------------------------------------------------

CASHFREE = web.AppKey("cashfree_ledger", CashfreeLedger)


def _ledger_and_merchant(request: web.Request) -> tuple[CashfreeLedger, _Merchant]:
    ledger = request.app[CASHFREE]
    return ledger, ledger.authenticate(request.headers)


async def _gateway_body(request: web.Request) -> dict[str, Any]:
    try:
        return await read_json_object(request, decimals=True)
    except ValueError as exc:
        raise _refusal(400, "request_invalid", str(exc)) from exc


async def _idempotent(
    request: web.Request, ledger: CashfreeLedger, merchant: _Merchant
) -> tuple[str | None, web.Response | None]:
    """``(fingerprint, replay)``: the stored answer when this ``x-idempotency-key`` was used
    for the same request; ``422`` when it was used for another; else ``(fingerprint, None)``."""
    key = request.headers.get("x-idempotency-key")
    if not key:
        return None, None
    raw = await request.read()
    fingerprint = hashlib.sha256(f"{request.method} {request.path}\n".encode() + raw).hexdigest()
    stored = ledger.idempotency.get((merchant.client_id, key))
    if stored is None:
        return fingerprint, None
    if stored[0] != fingerprint:
        raise _refusal(
            422,
            "idempotency_error",
            "the idempotency key was used with a different request",
            kind="idempotency_error",
        )
    return fingerprint, web.json_response(stored[1])


def _remember(
    request: web.Request,
    ledger: CashfreeLedger,
    merchant: _Merchant,
    fingerprint: str | None,
    answer: dict[str, Any],
) -> web.Response:
    key = request.headers.get("x-idempotency-key")
    if key and fingerprint:
        ledger.idempotency[(merchant.client_id, key)] = (fingerprint, answer)
    return web.json_response(answer)


async def create_order(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    fingerprint, replay = await _idempotent(request, ledger, merchant)
    if replay is not None:
        return replay
    order = ledger.create_order(merchant, await _gateway_body(request))
    return _remember(request, ledger, merchant, fingerprint, order.to_json())


async def fetch_order(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    return web.json_response(ledger.order_of(merchant, request.match_info["order_id"]).to_json())


async def terminate_order(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    fingerprint, replay = await _idempotent(request, ledger, merchant)
    if replay is not None:
        return replay
    order = ledger.order_of(merchant, request.match_info["order_id"])
    order = ledger.terminate(order, await _gateway_body(request))
    return _remember(request, ledger, merchant, fingerprint, order.to_json())


async def order_payments(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    order = ledger.order_of(merchant, request.match_info["order_id"])
    payments = [ledger.payment_of(order, pid).to_json() for pid in order.payment_ids]
    return web.json_response(payments)


async def fetch_payment(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    order = ledger.order_of(merchant, request.match_info["order_id"])
    return web.json_response(
        ledger.payment_of(order, request.match_info["cf_payment_id"]).to_json()
    )


async def create_refund(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    fingerprint, replay = await _idempotent(request, ledger, merchant)
    if replay is not None:
        return replay
    order = ledger.order_of(merchant, request.match_info["order_id"])
    refund = ledger.refund(order, await _gateway_body(request))
    return _remember(request, ledger, merchant, fingerprint, refund.to_json())


async def order_refunds(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    order = ledger.order_of(merchant, request.match_info["order_id"])
    return web.json_response([ledger.refund_of(order, rid).to_json() for rid in order.refund_ids])


async def fetch_refund(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    order = ledger.order_of(merchant, request.match_info["order_id"])
    return web.json_response(ledger.refund_of(order, request.match_info["refund_id"]).to_json())


# control


def _merchant_view(merchant: _Merchant) -> dict[str, Any]:
    return {
        "client_id": merchant.client_id,
        "webhook_url": merchant.webhook_url,
        "last_api_version": merchant.last_api_version,
    }


async def register_merchant(request: web.Request) -> web.Response:
    merchant = request.app[CASHFREE].register(await read_control(request, CashfreeMerchant))
    return web.json_response({"merchant": _merchant_view(merchant)})


async def list_merchants(request: web.Request) -> web.Response:
    merchants = request.app[CASHFREE].merchants.values()
    return web.json_response({"merchants": [_merchant_view(m) for m in merchants]})


async def set_webhook(request: web.Request) -> web.Response:
    merchant = request.app[CASHFREE].merchants.get(request.match_info["client_id"])
    if merchant is None:
        raise ControlError(404, "not_found", "no merchant with this client_id")
    merchant.webhook_url = (await read_control(request, _WebhookTarget)).url
    return web.json_response({"merchant": _merchant_view(merchant)})


def _checkout_answer(order: _Order, payment: _Payment) -> web.Response:
    return web.json_response(
        {
            "order_id": order.order_id,
            "cf_payment_id": payment.cf_payment_id,
            "payment_status": payment.status.value,
            "payment": payment.to_json(),
        }
    )


async def pay_order(request: web.Request) -> web.Response:
    ledger = request.app[CASHFREE]
    checkout = await read_control(request, _Checkout)
    order = ledger.control_order(request.match_info["ref"], checkout.client_id)
    return _checkout_answer(order, ledger.pay(order, checkout))


async def fail_order(request: web.Request) -> web.Response:
    ledger = request.app[CASHFREE]
    checkout = await read_control(request, _Checkout)
    order = ledger.control_order(request.match_info["ref"], checkout.client_id)
    return _checkout_answer(order, ledger.fail(order, checkout))


async def expire_order(request: web.Request) -> web.Response:
    ledger = request.app[CASHFREE]
    body = await read_control(request, _Expire)
    order = ledger.control_order(request.match_info["ref"], body.client_id)
    return web.json_response({"order": ledger.expire(order).to_json()})


def create_cashfree_emulator(config: CashfreeEmulatorConfig | None = None) -> web.Application:
    """A fresh Cashfree PG emulator app (state lives in the app; serve it with
    :func:`~protocols.gateways.emulators.common.run_emulator`; the SDK's host is
    ``{base_url}/pg``)."""
    config = config or CashfreeEmulatorConfig()
    core = EmulatorCore(gateway="cashfree", initial_webhook_policy=config.webhooks)
    app = web.Application()
    app[CASHFREE] = CashfreeLedger(config, core)
    install_core(app, core, api_prefixes=("/pg/",), render_error=render_error)
    app.router.add_post("/pg/orders", create_order)
    app.router.add_get("/pg/orders/{order_id}", fetch_order)
    app.router.add_patch("/pg/orders/{order_id}", terminate_order)
    app.router.add_get("/pg/orders/{order_id}/payments", order_payments)
    app.router.add_get("/pg/orders/{order_id}/payments/{cf_payment_id}", fetch_payment)
    app.router.add_post("/pg/orders/{order_id}/refunds", create_refund)
    app.router.add_get("/pg/orders/{order_id}/refunds", order_refunds)
    app.router.add_get("/pg/orders/{order_id}/refunds/{refund_id}", fetch_refund)
    app.router.add_post(f"{CONTROL_PREFIX}/merchants", register_merchant)
    app.router.add_get(f"{CONTROL_PREFIX}/merchants", list_merchants)
    app.router.add_put(f"{CONTROL_PREFIX}/merchants/{{client_id}}/webhook", set_webhook)
    app.router.add_post(f"{CONTROL_PREFIX}/orders/{{ref}}/pay", pay_order)
    app.router.add_post(f"{CONTROL_PREFIX}/orders/{{ref}}/fail", fail_order)
    app.router.add_post(f"{CONTROL_PREFIX}/orders/{{ref}}/expire", expire_order)
    return app
