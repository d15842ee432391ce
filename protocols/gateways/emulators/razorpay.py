"""A local Razorpay: the subset of the Orders, Payments and Refunds API our adapter uses, with
state, a checkout stand-in, signed webhooks, and switchable faults.

The official ``razorpay`` SDK runs against it unchanged:
``razorpay.Client(auth=(key_id, key_secret), base_url=emulator_url)`` (paths carry ``/v1``).

Gateway API (HTTP basic auth ``key_id:key_secret``; amounts are integer paise; errors are
``{"error": {"code", "description", "source", "step", "reason", "metadata", "field"?}}``)::

    POST /v1/orders                          {amount, currency, receipt?, notes?, ...} -> order
    GET  /v1/orders                          ?receipt=&count=&skip= -> collection, newest first
    GET  /v1/orders/{order_id}               -> order
    GET  /v1/orders/{order_id}/payments      -> collection of payments
    GET  /v1/payments/{payment_id}           -> payment
    POST /v1/payments/{payment_id}/refund    {amount?, speed?, notes?, receipt?} -> refund
    GET  /v1/payments/{payment_id}/refunds   -> collection of refunds
    GET  /v1/payments/{payment_id}/refunds/{refund_id}, GET /v1/refunds/{refund_id} -> refund

Control API (besides the shared routes in :mod:`.control`)::

    POST /_emulator/merchants          {key_id, key_secret, webhook_secret, webhook_url?,
                                        account_id?} -> {"merchant": {...}} (upsert)
    GET  /_emulator/merchants          -> {"merchants": [...]} (no secrets)
    PUT  /_emulator/merchants/{key_id}/webhook   {url: str|null, secret?: str}
    POST /_emulator/orders/{order_id}/pay   {method?, email?, contact?} -> {razorpay_payment_id,
                                        razorpay_order_id, razorpay_signature, payment}
    POST /_emulator/orders/{order_id}/fail  {method?, description?, reason?}
                                        -> {razorpay_payment_id, razorpay_order_id, error, payment}

``pay`` is what Checkout does when the customer pays: a captured payment, the order ``paid``,
webhooks ``payment.authorized``, ``payment.captured``, ``order.paid``; its answer is what
Checkout hands the merchant's page (``razorpay_signature`` = hex HMAC-SHA256 of
``order_id|payment_id`` with the key secret). ``fail`` is a failed attempt: a ``failed``
payment, the order ``attempted`` (it can still be paid), webhook ``payment.failed``. A refund
sends ``refund.created`` and ``refund.processed``. Webhooks are signed with the merchant's
*webhook secret* (hex HMAC-SHA256 of the raw body, header ``X-Razorpay-Signature``) and carry
``X-Razorpay-Event-Id`` (the same on duplicates and retries).

Merchants are isolated: an id created with one key is unknown (``400 The id provided does not
exist``, as Razorpay answers) to every other key. Unknown or missing credentials: ``401``.

Emulated as Razorpay does:
- duplicate ``receipt``: allowed, each create makes a new order (``GET /v1/orders?receipt=``
  finds them); refunds are *not* deduplicated by ``receipt`` either — a retried refund request
  makes a second refund, so check ``GET /v1/payments/{id}/refunds`` before retrying;
- unknown body fields are refused (``... is/are not required and should not be sent``);
- empty ``notes`` are answered as ``[]``;
- a refund without ``amount`` refunds what is left; the sum of refunds never exceeds the
  captured amount (``400``); a fully refunded payment becomes ``refunded``.

Differences from the real gateway: orders auto-capture only (``payment_capture: 0`` and
``partial_payment: true`` are refused with 400 so nothing silently relies on them); INR only;
no order expiry; fees are a flat 2% + 18% GST; refunds are ``processed`` immediately unless
``refund_settle_secs`` is set (then ``pending`` until settled in the background); event ids and
error descriptions are close to, not copies of, the real ones; ``401`` bodies use
``BAD_REQUEST_ERROR`` as Razorpay does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import BasicAuth, web
from pydantic import BaseModel, ConfigDict, Field

from protocols.gateways.emulators.common import (
    ControlError,
    GatewayRefusal,
    random_id,
    read_control,
    read_json_object,
    unix_now,
)
from protocols.gateways.emulators.control import CONTROL_PREFIX, EmulatorCore, install_core
from protocols.gateways.emulators.webhooks import Signer, WebhookEvent, WebhookPolicy

MIN_AMOUNT_PAISE = 100
MAX_AMOUNT_PAISE = 10**11
ORDER_FIELDS = frozenset(
    {"amount", "currency", "receipt", "notes", "partial_payment", "payment_capture"}
)
REFUND_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})


# --- configuration -------------------------------------------------------------------------


class RazorpayMerchant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str = Field(min_length=1, max_length=64)
    key_secret: str = Field(min_length=1, max_length=256)
    webhook_secret: str = Field(min_length=1, max_length=256)
    webhook_url: str | None = None
    account_id: str | None = None


class RazorpayEmulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    merchants: tuple[RazorpayMerchant, ...] = ()
    webhooks: WebhookPolicy = WebhookPolicy()
    refund_settle_secs: float | None = Field(default=None, ge=0, le=3600)
    """None: refunds are ``processed`` in the create answer. A number: ``pending`` until that
    many seconds later, then ``processed`` (and ``refund.processed`` is sent)."""


class _WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None
    secret: str | None = Field(default=None, min_length=1, max_length=256)


class _Pay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = Field(default="upi", pattern=r"^(upi|card|netbanking|wallet)$")
    email: str = "customer@example.com"
    contact: str = "+919000090000"


class _Fail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = Field(default="upi", pattern=r"^(upi|card|netbanking|wallet)$")
    description: str = "Payment failed because the customer's bank declined it"
    reason: str = "payment_failed"


# --- state -----------------------------------------------------------------------------------


class OrderStatus(StrEnum):
    CREATED = "created"
    ATTEMPTED = "attempted"
    PAID = "paid"


class PaymentStatus(StrEnum):
    AUTHORIZED = "authorized"  # only ever seen in the payment.authorized webhook
    CAPTURED = "captured"
    REFUNDED = "refunded"
    FAILED = "failed"


class RefundStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"


@dataclass
class _Merchant:
    key_id: str
    key_secret: str
    webhook_secret: str
    webhook_url: str | None
    account_id: str


@dataclass
class _Order:
    id: str
    key_id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    created_at: int
    status: OrderStatus = OrderStatus.CREATED
    attempts: int = 0
    amount_paid: int = 0
    payment_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entity": "order",
            "amount": self.amount,
            "amount_paid": self.amount_paid,
            "amount_due": self.amount - self.amount_paid,
            "currency": self.currency,
            "receipt": self.receipt,
            "offer_id": None,
            "status": self.status.value,
            "attempts": self.attempts,
            "notes": self.notes or [],
            "created_at": self.created_at,
        }


@dataclass
class _Payment:
    id: str
    key_id: str
    order_id: str
    amount: int
    currency: str
    method: str
    email: str
    contact: str
    created_at: int
    status: PaymentStatus
    amount_refunded: int = 0
    refund_ids: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None

    def to_json(self, *, status: PaymentStatus | None = None) -> dict[str, Any]:
        shown = status or self.status
        succeeded = shown is not PaymentStatus.FAILED
        fee = self.amount * 236 // 10_000 if succeeded else None  # 2% + 18% GST on it
        error = self.error or {}
        refund_status = None
        if self.amount_refunded:
            refund_status = "full" if self.amount_refunded == self.amount else "partial"
        return {
            "id": self.id,
            "entity": "payment",
            "amount": self.amount,
            "currency": self.currency,
            "status": shown.value,
            "order_id": self.order_id,
            "invoice_id": None,
            "international": False,
            "method": self.method,
            "amount_refunded": self.amount_refunded,
            "refund_status": refund_status,
            "captured": shown in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED),
            "description": None,
            "card_id": None,
            "bank": "HDFC" if self.method == "netbanking" else None,
            "wallet": "paytm" if self.method == "wallet" else None,
            "vpa": "success@razorpay" if self.method == "upi" else None,
            "email": self.email,
            "contact": self.contact,
            "notes": [],
            "fee": fee,
            "tax": None if fee is None else fee - fee * 100 // 118,
            "error_code": error.get("code"),
            "error_description": error.get("description"),
            "error_source": error.get("source"),
            "error_step": error.get("step"),
            "error_reason": error.get("reason"),
            "acquirer_data": {"rrn": self.id[-12:]} if succeeded else {},
            "created_at": self.created_at,
        }


@dataclass
class _Refund:
    id: str
    key_id: str
    payment_id: str
    amount: int
    currency: str
    receipt: str | None
    notes: dict[str, Any]
    speed: str
    created_at: int
    status: RefundStatus

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entity": "refund",
            "amount": self.amount,
            "receipt": self.receipt,
            "currency": self.currency,
            "payment_id": self.payment_id,
            "notes": self.notes or [],
            "acquirer_data": {"arn": None},
            "created_at": self.created_at,
            "batch_id": None,
            "status": self.status.value,
            "speed_processed": "normal",
            "speed_requested": self.speed,
        }


def _refusal(
    description: str,
    *,
    status: int = 400,
    code: str = "BAD_REQUEST_ERROR",
    field_name: str | None = None,
    source: str = "business",
    step: str = "payment_initiation",
    reason: str = "input_validation_failed",
) -> GatewayRefusal:
    error: dict[str, Any] = {
        "code": code,
        "description": description,
        "source": source,
        "step": step,
        "reason": reason,
        "metadata": {},
    }
    if field_name is not None:
        error["field"] = field_name
    return GatewayRefusal(status, {"error": error})


def _no_such_id() -> GatewayRefusal:
    return _refusal("The id provided does not exist", field_name="id")


def render_error(status: int, message: str) -> web.Response:
    """Razorpay's error shape for injected faults and unknown routes."""
    if status >= 500:
        body = _refusal(message, code="SERVER_ERROR", source="NA", step="NA", reason="NA").body
        return web.json_response(body, status=status)
    return web.json_response(
        _refusal(message, source="NA", step="NA", reason="NA").body, status=400
    )


def checkout_signature(order_id: str, payment_id: str, key_secret: str) -> str:
    """What Checkout returns as ``razorpay_signature``."""
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(key_secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(body: bytes, webhook_secret: str) -> str:
    return hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()


class RazorpayLedger:
    """Merchants, orders, payments and refunds; the named transitions refuse illegal moves."""

    def __init__(self, config: RazorpayEmulatorConfig, core: EmulatorCore) -> None:
        self.config = config
        self.core = core
        self.merchants: dict[str, _Merchant] = {}
        self.orders: dict[str, _Order] = {}
        self.payments: dict[str, _Payment] = {}
        self.refunds: dict[str, _Refund] = {}
        for merchant in config.merchants:
            self.register(merchant)

    # merchants

    def register(self, merchant: RazorpayMerchant) -> _Merchant:
        known = self.merchants.get(merchant.key_id)
        account_id = merchant.account_id or (known.account_id if known else random_id("acc_"))
        self.merchants[merchant.key_id] = _Merchant(
            key_id=merchant.key_id,
            key_secret=merchant.key_secret,
            webhook_secret=merchant.webhook_secret,
            webhook_url=merchant.webhook_url,
            account_id=account_id,
        )
        return self.merchants[merchant.key_id]

    def authenticate(self, authorization: str | None) -> _Merchant:
        if not authorization:
            raise _refusal(
                "Please provide your api key for authentication purposes.",
                status=401,
                source="NA",
                step="NA",
                reason="NA",
            )
        try:
            credentials = BasicAuth.decode(authorization)
        except ValueError as exc:
            raise _refusal(
                "Authentication failed", status=401, source="NA", step="NA", reason="NA"
            ) from exc
        merchant = self.merchants.get(credentials.login)
        if merchant is None or not hmac.compare_digest(
            merchant.key_secret.encode(), credentials.password.encode()
        ):
            raise _refusal("Authentication failed", status=401, source="NA", step="NA", reason="NA")
        return merchant

    # lookups scoped to one merchant

    def order_of(self, merchant: _Merchant, order_id: str) -> _Order:
        order = self.orders.get(order_id)
        if order is None or order.key_id != merchant.key_id:
            raise _no_such_id()
        return order

    def payment_of(self, merchant: _Merchant, payment_id: str) -> _Payment:
        payment = self.payments.get(payment_id)
        if payment is None or payment.key_id != merchant.key_id:
            raise _no_such_id()
        return payment

    def refund_of(self, merchant: _Merchant, refund_id: str) -> _Refund:
        refund = self.refunds.get(refund_id)
        if refund is None or refund.key_id != merchant.key_id:
            raise _no_such_id()
        return refund

    # transitions

    def create_order(self, merchant: _Merchant, body: Mapping[str, Any]) -> _Order:
        _refuse_unknown_fields(body, ORDER_FIELDS)
        amount = _amount(body.get("amount"), required=True)
        assert amount is not None
        currency = body.get("currency")
        if currency is None:
            raise _refusal("The currency field is required.", field_name="currency")
        if currency != "INR":
            raise _refusal("Currency is not supported", field_name="currency")
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise _refusal(
                "The receipt may not be greater than 40 characters.", field_name="receipt"
            )
        if body.get("payment_capture") in (0, False, "0"):
            raise _refusal("emulator: manual capture (payment_capture=0) is not emulated")
        if body.get("partial_payment") in (1, True, "1"):
            raise _refusal("emulator: partial payments are not emulated")
        order = _Order(
            id=random_id("order_"),
            key_id=merchant.key_id,
            amount=amount,
            currency=currency,
            receipt=receipt,
            notes=_notes(body.get("notes")),
            created_at=unix_now(),
        )
        self.orders[order.id] = order
        return order

    def pay(self, order: _Order, request: _Pay) -> _Payment:
        if order.status is OrderStatus.PAID:
            raise ControlError(409, "order_already_paid", f"order {order.id} is already paid")
        payment = self._new_payment(order, request.method, request.email, request.contact)
        payment.status = PaymentStatus.CAPTURED
        order.status = OrderStatus.PAID
        order.attempts += 1
        order.amount_paid = order.amount
        merchant = self.merchants[order.key_id]
        authorized = payment.to_json(status=PaymentStatus.AUTHORIZED)
        captured = payment.to_json()
        self._send(
            merchant,
            [
                ("payment.authorized", {"payment": authorized}),
                ("payment.captured", {"payment": captured}),
                ("order.paid", {"payment": captured, "order": order.to_json()}),
            ],
        )
        return payment

    def fail(self, order: _Order, request: _Fail) -> _Payment:
        if order.status is OrderStatus.PAID:
            raise ControlError(409, "order_already_paid", f"order {order.id} is already paid")
        payment = self._new_payment(order, request.method, "customer@example.com", "+919000090000")
        payment.status = PaymentStatus.FAILED
        payment.error = {
            "code": "BAD_REQUEST_ERROR",
            "description": request.description,
            "source": "bank",
            "step": "payment_authorization",
            "reason": request.reason,
        }
        order.status = OrderStatus.ATTEMPTED
        order.attempts += 1
        self._send(
            self.merchants[order.key_id], [("payment.failed", {"payment": payment.to_json()})]
        )
        return payment

    def refund(self, merchant: _Merchant, payment: _Payment, body: Mapping[str, Any]) -> _Refund:
        _refuse_unknown_fields(body, REFUND_FIELDS)
        if payment.status is PaymentStatus.FAILED:
            raise _refusal(
                "The payment has not been captured yet and cannot be refunded",
                field_name="payment_id",
            )
        remaining = payment.amount - payment.amount_refunded
        if remaining <= 0:
            raise _refusal("The payment has been fully refunded already", field_name="amount")
        amount = _amount(body.get("amount"), required=False)
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise _refusal(
                "The refund amount provided is greater than amount captured",
                field_name="amount",
            )
        speed = body.get("speed", "normal")
        if speed not in ("normal", "optimum"):
            raise _refusal("The selected speed is invalid.", field_name="speed")
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise _refusal(
                "The receipt may not be greater than 40 characters.", field_name="receipt"
            )
        settle_secs = self.config.refund_settle_secs
        refund = _Refund(
            id=random_id("rfnd_"),
            key_id=merchant.key_id,
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            receipt=receipt,
            notes=_notes(body.get("notes")),
            speed=speed,
            created_at=unix_now(),
            status=RefundStatus.PENDING if settle_secs is not None else RefundStatus.PROCESSED,
        )
        self.refunds[refund.id] = refund
        payment.refund_ids.append(refund.id)
        payment.amount_refunded += amount
        if payment.amount_refunded == payment.amount:
            payment.status = PaymentStatus.REFUNDED
        events = [("refund.created", {"refund": refund.to_json(), "payment": payment.to_json()})]
        if settle_secs is None:
            events.append(
                ("refund.processed", {"refund": refund.to_json(), "payment": payment.to_json()})
            )
        else:
            self.core.tasks.spawn(self._settle_later(refund, settle_secs), name="emulator-refund")
        self._send(merchant, events)
        return refund

    async def _settle_later(self, refund: _Refund, delay_secs: float) -> None:
        await asyncio.sleep(delay_secs)
        if refund.status is not RefundStatus.PENDING:
            return
        refund.status = RefundStatus.PROCESSED
        payment = self.payments[refund.payment_id]
        self._send(
            self.merchants[refund.key_id],
            [("refund.processed", {"refund": refund.to_json(), "payment": payment.to_json()})],
        )

    def _new_payment(self, order: _Order, method: str, email: str, contact: str) -> _Payment:
        payment = _Payment(
            id=random_id("pay_"),
            key_id=order.key_id,
            order_id=order.id,
            amount=order.amount,
            currency=order.currency,
            method=method,
            email=email,
            contact=contact,
            created_at=unix_now(),
            status=PaymentStatus.FAILED,
        )
        self.payments[payment.id] = payment
        order.payment_ids.append(payment.id)
        return payment

    def _send(self, merchant: _Merchant, events: list[tuple[str, dict[str, Any]]]) -> None:
        batch = []
        for name, entities in events:
            body = json.dumps(
                {
                    "entity": "event",
                    "account_id": merchant.account_id,
                    "event": name,
                    "contains": list(entities),
                    "payload": {kind: {"entity": entity} for kind, entity in entities.items()},
                    "created_at": unix_now(),
                },
                separators=(",", ":"),
            ).encode()
            event_id = random_id()
            batch.append(
                WebhookEvent(
                    event_id=event_id,
                    event=name,
                    merchant=merchant.key_id,
                    url=merchant.webhook_url,
                    body=body,
                    sign=_signer(merchant, event_id),
                )
            )
        self.core.webhooks.submit(batch)


def _signer(merchant: _Merchant, event_id: str) -> Signer:
    def sign(body: bytes) -> dict[str, str]:
        return {
            "X-Razorpay-Signature": webhook_signature(body, merchant.webhook_secret),
            "X-Razorpay-Event-Id": event_id,
        }

    return sign


def _refuse_unknown_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise _refusal(
            f"{', '.join(extra)} is/are not required and should not be sent",
            field_name=extra[0],
        )


def _amount(value: Any, *, required: bool) -> int | None:
    if value is None:
        if required:
            raise _refusal("The amount field is required.", field_name="amount")
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refusal("The amount must be an integer.", field_name="amount")
    if value < MIN_AMOUNT_PAISE:
        raise _refusal("The amount must be atleast INR 1.00", field_name="amount")
    if value > MAX_AMOUNT_PAISE:
        raise _refusal("The amount exceeds the maximum amount allowed.", field_name="amount")
    return value


def _notes(value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict) or len(value) > 15:
        raise _refusal("The notes must be an object of at most 15 keys.", field_name="notes")
    return dict(value)


def _collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}


# --- HTTP ------------------------------------------------------------------------------------

RAZORPAY = web.AppKey("razorpay_ledger", RazorpayLedger)


def _ledger_and_merchant(request: web.Request) -> tuple[RazorpayLedger, _Merchant]:
    ledger = request.app[RAZORPAY]
    return ledger, ledger.authenticate(request.headers.get("Authorization"))


async def _gateway_body(request: web.Request) -> dict[str, Any]:
    try:
        return await read_json_object(request)
    except ValueError as exc:
        raise _refusal(str(exc)) from exc


async def create_order(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    order = ledger.create_order(merchant, await _gateway_body(request))
    return web.json_response(order.to_json())


async def list_orders(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    receipt = request.query.get("receipt")
    try:
        count = min(int(request.query.get("count", "10")), 100)
        skip = int(request.query.get("skip", "0"))
    except ValueError as exc:
        raise _refusal("count and skip must be integers") from exc
    orders = [
        order
        for order in reversed(ledger.orders.values())
        if order.key_id == merchant.key_id and (receipt is None or order.receipt == receipt)
    ]
    return web.json_response(_collection([o.to_json() for o in orders[skip : skip + count]]))


async def fetch_order(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    return web.json_response(ledger.order_of(merchant, request.match_info["order_id"]).to_json())


async def order_payments(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    order = ledger.order_of(merchant, request.match_info["order_id"])
    payments = [ledger.payments[pid].to_json() for pid in order.payment_ids]
    return web.json_response(_collection(payments))


async def fetch_payment(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    payment = ledger.payment_of(merchant, request.match_info["payment_id"])
    return web.json_response(payment.to_json())


async def refund_payment(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    payment = ledger.payment_of(merchant, request.match_info["payment_id"])
    refund = ledger.refund(merchant, payment, await _gateway_body(request))
    return web.json_response(refund.to_json())


async def payment_refunds(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    payment = ledger.payment_of(merchant, request.match_info["payment_id"])
    return web.json_response(_collection([ledger.refunds[r].to_json() for r in payment.refund_ids]))


async def fetch_payment_refund(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    payment = ledger.payment_of(merchant, request.match_info["payment_id"])
    refund = ledger.refund_of(merchant, request.match_info["refund_id"])
    if refund.payment_id != payment.id:
        raise _no_such_id()
    return web.json_response(refund.to_json())


async def fetch_refund(request: web.Request) -> web.Response:
    ledger, merchant = _ledger_and_merchant(request)
    return web.json_response(ledger.refund_of(merchant, request.match_info["refund_id"]).to_json())


# control


def _merchant_view(merchant: _Merchant) -> dict[str, Any]:
    return {
        "key_id": merchant.key_id,
        "account_id": merchant.account_id,
        "webhook_url": merchant.webhook_url,
    }


async def register_merchant(request: web.Request) -> web.Response:
    merchant = request.app[RAZORPAY].register(await read_control(request, RazorpayMerchant))
    return web.json_response({"merchant": _merchant_view(merchant)})


async def list_merchants(request: web.Request) -> web.Response:
    merchants = request.app[RAZORPAY].merchants.values()
    return web.json_response({"merchants": [_merchant_view(m) for m in merchants]})


async def set_webhook(request: web.Request) -> web.Response:
    ledger = request.app[RAZORPAY]
    merchant = ledger.merchants.get(request.match_info["key_id"])
    if merchant is None:
        raise ControlError(404, "not_found", "no merchant with this key_id")
    target = await read_control(request, _WebhookTarget)
    merchant.webhook_url = target.url
    if target.secret is not None:
        merchant.webhook_secret = target.secret
    return web.json_response({"merchant": _merchant_view(merchant)})


def _control_order(request: web.Request) -> tuple[RazorpayLedger, _Order]:
    ledger = request.app[RAZORPAY]
    order = ledger.orders.get(request.match_info["order_id"])
    if order is None:
        raise ControlError(404, "not_found", "no order with this id")
    return ledger, order


async def pay_order(request: web.Request) -> web.Response:
    ledger, order = _control_order(request)
    payment = ledger.pay(order, await read_control(request, _Pay))
    key_secret = ledger.merchants[order.key_id].key_secret
    return web.json_response(
        {
            "razorpay_payment_id": payment.id,
            "razorpay_order_id": order.id,
            "razorpay_signature": checkout_signature(order.id, payment.id, key_secret),
            "payment": payment.to_json(),
        }
    )


async def fail_order(request: web.Request) -> web.Response:
    ledger, order = _control_order(request)
    payment = ledger.fail(order, await read_control(request, _Fail))
    error: dict[str, Any] = dict(payment.error or {})
    error["metadata"] = {"payment_id": payment.id, "order_id": order.id}
    return web.json_response(
        {
            "razorpay_payment_id": payment.id,
            "razorpay_order_id": order.id,
            "error": error,
            "payment": payment.to_json(),
        }
    )


def create_razorpay_emulator(config: RazorpayEmulatorConfig | None = None) -> web.Application:
    """A fresh Razorpay emulator app (state lives in the app; serve it with
    :func:`~protocols.gateways.emulators.common.run_emulator`)."""
    config = config or RazorpayEmulatorConfig()
    core = EmulatorCore(gateway="razorpay", initial_webhook_policy=config.webhooks)
    app = web.Application()
    app[RAZORPAY] = RazorpayLedger(config, core)
    install_core(app, core, api_prefixes=("/v1/",), render_error=render_error)
    app.router.add_post("/v1/orders", create_order)
    app.router.add_get("/v1/orders", list_orders)
    app.router.add_get("/v1/orders/{order_id}", fetch_order)
    app.router.add_get("/v1/orders/{order_id}/payments", order_payments)
    app.router.add_get("/v1/payments/{payment_id}", fetch_payment)
    app.router.add_post("/v1/payments/{payment_id}/refund", refund_payment)
    app.router.add_get("/v1/payments/{payment_id}/refunds", payment_refunds)
    app.router.add_get("/v1/payments/{payment_id}/refunds/{refund_id}", fetch_payment_refund)
    app.router.add_get("/v1/refunds/{refund_id}", fetch_refund)
    app.router.add_post(f"{CONTROL_PREFIX}/merchants", register_merchant)
    app.router.add_get(f"{CONTROL_PREFIX}/merchants", list_merchants)
    app.router.add_put(f"{CONTROL_PREFIX}/merchants/{{key_id}}/webhook", set_webhook)
    app.router.add_post(f"{CONTROL_PREFIX}/orders/{{order_id}}/pay", pay_order)
    app.router.add_post(f"{CONTROL_PREFIX}/orders/{{order_id}}/fail", fail_order)
    return app
