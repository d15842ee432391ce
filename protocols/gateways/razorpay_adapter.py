"""Razorpay, on the official ``razorpay`` SDK.

What this relies on in the SDK (razorpay 2.0.1, read from its source):

- ``razorpay.Client(session=..., auth=(key_id, key_secret), base_url=...)``: ``base_url`` replaces
  the host only; resource paths already start with ``/v1``.
- Every resource method forwards extra keyword arguments to ``requests.Session.<method>``, so
  ``timeout=(connect, read)`` reaches requests: that is the per-request timeout.
- Errors are classified by the body's ``error.code``, not by the HTTP status:
  ``BAD_REQUEST_ERROR`` → ``BadRequestError`` (also for bad credentials and unknown ids),
  ``GATEWAY_ERROR`` → ``GatewayError`` (the bank or wallet refused), anything else, including
  a 4xx with an unknown code → ``ServerError``. A non-JSON error body raises requests'
  ``JSONDecodeError``; connection failures and timeouts re-raise requests' own exceptions (after
  the SDK ``print``\\ s a line to stdout). SDK retries (``enable_retry``) stay off: retrying is the
  caller's decision, made with our deterministic ids.
- The SDK is blocking and built on ``requests.Session``, which is not documented as thread-safe:
  each worker thread gets its own client for this tenant (thread-local); :meth:`aclose` closes
  them all.

Idempotency: Razorpay does not deduplicate orders by ``receipt``; we set ``receipt`` to our
attempt id so an order can always be traced to its attempt, and the caller stores the returned
order id before anyone can pay it. For refunds we look before we leap: :meth:`refund` first lists
the payment's refunds and returns the one whose ``receipt`` is our refund id, so repeating a
refund after a timeout does not refund twice (two *concurrent* calls with one refund id can still
both create: callers serialize refunds per payment).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import razorpay
import requests
from razorpay.errors import BadRequestError, GatewayError, ServerError

from protocols.errors import (
    GatewayRejected,
    GatewayUnavailable,
    Invalid,
    PaymentDeclined,
    SevaError,
    WebhookSignatureInvalid,
)
from protocols.gateways.interface import (
    BlockingCalls,
    GatewayCredentials,
    GatewayOrder,
    GatewayPayment,
    GatewayRefund,
    OrderRequest,
    OrderStatus,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    WebhookEvent,
    hmac_sha256,
    lower_keys,
    matches_any_secret,
)

T = TypeVar("T")

GATEWAY = "razorpay"
SIGNATURE_HEADER = "x-razorpay-signature"
EVENT_ID_HEADER = "x-razorpay-event-id"
_GATEWAY_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")

_ORDER_STATUSES = {
    "created": OrderStatus.CREATED,
    "attempted": OrderStatus.ATTEMPTED,
    "paid": OrderStatus.PAID,
}
# "authorized" is captured automatically (payment_capture=1) or refunded by Razorpay if not;
# "refunded" was captured first: refunds are tracked as refunds, not as a payment status.
_PAYMENT_STATUSES = {
    "created": PaymentStatus.PENDING,
    "authorized": PaymentStatus.PENDING,
    "captured": PaymentStatus.CAPTURED,
    "refunded": PaymentStatus.CAPTURED,
    "failed": PaymentStatus.FAILED,
}
_REFUND_STATUSES = {
    "pending": RefundStatus.PENDING,
    "processed": RefundStatus.PROCESSED,
    "failed": RefundStatus.FAILED,
}


class RazorpayGateway:
    """One tenant's Razorpay account.

    ``request_timeout_secs`` is given to requests as (connect, read) timeouts for every HTTP
    request; ``deadline_secs`` (default three times that) bounds each awaited call including
    the wait for a worker thread. See :class:`BlockingCalls` for the pool.
    """

    name = GATEWAY

    def __init__(
        self,
        credentials: GatewayCredentials,
        *,
        executor: ThreadPoolExecutor | None = None,
        max_workers: int = 8,
        request_timeout_secs: float = 10.0,
        deadline_secs: float | None = None,
    ) -> None:
        self._credentials = credentials
        self._timeout = (request_timeout_secs, request_timeout_secs)
        self._calls = BlockingCalls(
            gateway=GATEWAY,
            deadline_secs=deadline_secs or 3 * request_timeout_secs,
            executor=executor,
            max_workers=max_workers,
        )
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    # -- API calls -------------------------------------------------------------------------

    async def create_order(self, order: OrderRequest) -> GatewayOrder:
        data = {
            "amount": order.amount_paise,
            "currency": order.currency,
            "receipt": order.attempt_id,
            "payment_capture": 1,
            "notes": dict(order.notes),
        }
        raw = await self._run(
            lambda client: client.order.create(data, timeout=self._timeout), what="create_order"
        )
        return _order(raw)

    async def fetch_order(self, gateway_order_id: str) -> GatewayOrder:
        _check_id(gateway_order_id)
        raw = await self._run(
            lambda client: client.order.fetch(gateway_order_id, timeout=self._timeout),
            what="fetch_order",
        )
        return _order(raw)

    async def fetch_payments(self, gateway_order_id: str) -> list[GatewayPayment]:
        _check_id(gateway_order_id)
        raw = await self._run(
            lambda client: client.order.payments(gateway_order_id, timeout=self._timeout),
            what="fetch_payments",
        )
        return [_payment(item) for item in _items(raw)]

    async def refund(self, request: RefundRequest) -> GatewayRefund:
        payment_id = request.gateway_payment_id
        _check_id(payment_id)
        existing = await self._run(
            lambda client: client.payment.fetch_multiple_refund(
                payment_id, {"count": 100}, timeout=self._timeout
            ),
            what="list_refunds",
        )
        for item in _items(existing):
            if item.get("receipt") == request.refund_id:
                return _refund(item)
        data: dict[str, Any] = {
            "amount": request.amount_paise,
            "receipt": request.refund_id,
            "notes": {"refund_id": request.refund_id},
        }
        if request.note:
            data["notes"]["note"] = request.note
        raw = await self._run(
            lambda client: client.payment.refund(payment_id, data, timeout=self._timeout),
            what="refund",
        )
        return _refund(raw)

    async def fetch_refund(self, *, gateway_order_id: str, gateway_refund_id: str) -> GatewayRefund:
        _check_id(gateway_refund_id)
        raw = await self._run(
            lambda client: client.refund.fetch(gateway_refund_id, timeout=self._timeout),
            what="fetch_refund",
        )
        return _refund(raw)

    async def aclose(self) -> None:
        await self._calls.aclose()
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    # -- signatures (pure, no I/O) -----------------------------------------------------------

    def verify_checkout_signature(
        self, *, gateway_order_id: str, gateway_payment_id: str, signature: str
    ) -> None:
        """Hex HMAC-SHA256 of ``order_id|payment_id`` with the key secret, ``order_id`` being
        the one we stored for the attempt."""
        message = f"{gateway_order_id}|{gateway_payment_id}".encode()
        if not matches_any_secret(
            (self._credentials.key_secret,),
            lambda key: hmac_sha256(key, message).hex().encode(),
            signature,
        ):
            raise WebhookSignatureInvalid(
                "razorpay checkout signature does not match",
                {"gateway": GATEWAY, "reason": "mismatch"},
            )

    def parse_webhook(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime
    ) -> WebhookEvent:
        """Hex HMAC-SHA256 of the raw body with a webhook secret (not the key secret), header
        ``X-Razorpay-Signature``. Razorpay signs no timestamp (it retries the same body for up
        to a day), so freshness is not checked; the dedupe key is ``x-razorpay-event-id``, or
        the body's SHA-256 when that header is missing."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        lowered = lower_keys(headers)
        signature = lowered.get(SIGNATURE_HEADER)
        if not signature:
            raise WebhookSignatureInvalid(
                "missing X-Razorpay-Signature header",
                {"gateway": GATEWAY, "reason": "missing_header", "header": SIGNATURE_HEADER},
            )
        secrets = self._credentials.webhook_secrets
        if not secrets:
            raise WebhookSignatureInvalid(
                "no razorpay webhook secret is configured",
                {"gateway": GATEWAY, "reason": "not_configured"},
            )
        if not matches_any_secret(
            secrets, lambda key: hmac_sha256(key, raw_body).hex().encode(), signature
        ):
            raise WebhookSignatureInvalid(
                "razorpay webhook signature does not match",
                {"gateway": GATEWAY, "reason": "mismatch"},
            )
        payload = _json_object(raw_body)
        event_type = payload.get("event")
        if not isinstance(event_type, str):
            raise Invalid("razorpay webhook has no event type", {"gateway": GATEWAY})
        event_id = lowered.get(EVENT_ID_HEADER) or "sha256:" + hashlib.sha256(raw_body).hexdigest()
        payment = _entity(payload, "payment")
        refund = _entity(payload, "refund")
        order = _entity(payload, "order")
        order_id = payment.get("order_id") or order.get("id")
        payment_id = payment.get("id") or refund.get("payment_id")
        return WebhookEvent(
            gateway=GATEWAY,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            received_at=now,
            gateway_order_id=order_id if isinstance(order_id, str) else None,
            gateway_payment_id=payment_id if isinstance(payment_id, str) else None,
        )

    # -- plumbing ----------------------------------------------------------------------------

    def _client(self) -> razorpay.Client:
        client: razorpay.Client | None = getattr(self._local, "client", None)
        if client is None:
            session = requests.Session()
            options = {}
            if self._credentials.base_url:
                options["base_url"] = self._credentials.base_url.rstrip("/")
            auth = (self._credentials.key_id, self._credentials.key_secret.get_secret_value())
            client = razorpay.Client(session=session, auth=auth, **options)
            with self._sessions_lock:
                self._sessions.append(session)
            self._local.client = client
        return client

    async def _run(self, call: Callable[[razorpay.Client], T], *, what: str) -> T:
        def in_worker() -> T:
            try:
                return call(self._client())
            except (BadRequestError, GatewayError, ServerError, requests.RequestException) as exc:
                raise _translate(exc, what) from exc

        return await self._calls.run(in_worker, what=what)


def _translate(exc: Exception, what: str) -> SevaError:
    details: dict[str, Any] = {"gateway": GATEWAY, "operation": what}
    if isinstance(exc, BadRequestError):
        return GatewayRejected(f"razorpay rejected {what}: {exc}", details)
    if isinstance(exc, GatewayError):
        return PaymentDeclined(f"razorpay declined {what}: {exc}", details)
    if isinstance(exc, ServerError):
        return GatewayUnavailable(f"razorpay failed {what}", {**details, "reason": "server_error"})
    if isinstance(exc, requests.Timeout):
        return GatewayUnavailable(f"razorpay {what} timed out", {**details, "reason": "timeout"})
    if isinstance(exc, requests.ConnectionError):
        return GatewayUnavailable(
            f"razorpay unreachable for {what}", {**details, "reason": "unreachable"}
        )
    return GatewayUnavailable(
        f"razorpay answered {what} unreadably", {**details, "reason": "unreadable"}
    )


def _check_id(gateway_id: str) -> None:
    # The SDK formats ids into URL paths unescaped.
    if not _GATEWAY_ID.fullmatch(gateway_id):
        raise Invalid("not a razorpay id", {"gateway": GATEWAY})


def _unreadable(what: str) -> GatewayUnavailable:
    return GatewayUnavailable(
        f"razorpay answered with an unreadable {what}", {"gateway": GATEWAY, "reason": "unreadable"}
    )


def _str(raw: Mapping[str, Any], key: str, what: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise _unreadable(what)
    return value


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value else None


def _int(raw: Mapping[str, Any], key: str, what: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _unreadable(what)
    return value


def _mapping(raw: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _unreadable(what)
    return raw


def _items(raw: Any) -> list[Mapping[str, Any]]:
    items = _mapping(raw, "collection").get("items")
    if not isinstance(items, list):
        raise _unreadable("collection")
    return [_mapping(item, "collection item") for item in items]


def _order(raw: Any) -> GatewayOrder:
    order = _mapping(raw, "order")
    status = _ORDER_STATUSES.get(_str(order, "status", "order"))
    if status is None:
        raise _unreadable("order status")
    return GatewayOrder(
        gateway=GATEWAY,
        gateway_order_id=_str(order, "id", "order"),
        attempt_id=_str(order, "receipt", "order"),
        amount_paise=_int(order, "amount", "order"),
        currency=_str(order, "currency", "order"),
        status=status,
    )


def _payment(raw: Mapping[str, Any]) -> GatewayPayment:
    status = _PAYMENT_STATUSES.get(_str(raw, "status", "payment"))
    if status is None:
        raise _unreadable("payment status")
    return GatewayPayment(
        gateway=GATEWAY,
        gateway_payment_id=_str(raw, "id", "payment"),
        gateway_order_id=_str(raw, "order_id", "payment"),
        amount_paise=_int(raw, "amount", "payment"),
        currency=_str(raw, "currency", "payment"),
        status=status,
        method=_opt_str(raw, "method"),
        error_code=_opt_str(raw, "error_code"),
        error_description=_opt_str(raw, "error_description"),
    )


def _refund(raw: Any) -> GatewayRefund:
    refund = _mapping(raw, "refund")
    status = _REFUND_STATUSES.get(_str(refund, "status", "refund"))
    if status is None:
        raise _unreadable("refund status")
    return GatewayRefund(
        gateway=GATEWAY,
        gateway_refund_id=_str(refund, "id", "refund"),
        refund_id=_opt_str(refund, "receipt"),
        gateway_payment_id=_opt_str(refund, "payment_id"),
        amount_paise=_int(refund, "amount", "refund"),
        status=status,
    )


def _json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body)
    except ValueError as exc:
        raise Invalid("razorpay webhook body is not JSON", {"gateway": GATEWAY}) from exc
    if not isinstance(payload, dict):
        raise Invalid("razorpay webhook body is not a JSON object", {"gateway": GATEWAY})
    return payload


def _entity(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``payload.<name>.entity`` of a Razorpay event, or an empty mapping."""
    inner = payload.get("payload")
    wrapper = inner.get(name) if isinstance(inner, Mapping) else None
    entity = wrapper.get("entity") if isinstance(wrapper, Mapping) else None
    return entity if isinstance(entity, Mapping) else {}
