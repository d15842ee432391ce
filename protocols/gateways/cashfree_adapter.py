"""Cashfree, on the official ``cashfree-pg`` SDK, without its process-wide client.

Why the adapter does not call ``Cashfree(...).PGCreateOrder(...)`` (cashfree-pg 6.0.1, read from
its source):

- Every ``PG*`` method takes ``ApiClient.get_default()`` (one client per process, a class
  attribute), assigns ``api_client.configuration = Configuration(<this caller's credentials>)``
  and only later, inside ``call_api``, reads that attribute back to build the ``x-client-id`` /
  ``x-client-secret`` headers. Two threads calling for two tenants: A assigns, B assigns, A
  builds its headers with B's credentials and creates its order in B's merchant account. Nothing
  locks it.
- The host is hard-coded in each method (``api.cashfree.com/pg`` or ``sandbox.cashfree.com/pg``):
  no sandbox proxy, no emulator.
- ``RESTClientObject`` builds its urllib3 pool with ``cert_reqs=ssl.CERT_NONE``: server
  certificates are never verified, whatever ``Configuration.verify_ssl`` says.
- ``RefundEntity``'s validator rejects ``refund_status="FAILED"``, which the API documents and
  sends; numeric ``cf_payment_id``\\ s (as Cashfree's webhooks send them) fail ``StrictStr``.

What it does instead: each adapter (one per tenant) owns its own
``ApiClient(Configuration(host=base_url, api_key=<this tenant>))``, never registered as the SDK's
default and never mutated after construction, and calls that client's public ``call_api`` with
the path, headers and auth settings the generated ``PG*`` method would use. Request bodies are
the SDK's models (``CreateOrderRequest``, ``CustomerDetails``, ``OrderCreateRefundRequest``,
validated by pydantic before anything is sent); answers are validated by its models
(``OrderEntity``, ``PaymentEntity``, ``RefundEntity``). Credentials live in per-tenant objects
that nothing reassigns, so there is nothing to race on and nothing to lock: different tenants',
and one tenant's concurrent calls, run in parallel on the pool. The client's urllib3 pool is
replaced by one that verifies certificates against the system store and retries only failed
connects (a request that never left cannot have taken effect).

Rejected: a global lock around the SDK's ``PG*`` methods (correct, but serializes every Cashfree
call of every tenant and keeps the hard-coded host and unverified TLS); an ``ApiClient`` subclass
registered with ``ApiClient.set_default`` that fills credentials and ``_host`` from a
thread-local (works, but patches a process-wide singleton that any other Cashfree use inherits).

Money: the SDK's models carry rupees as ``float | int``. We send whole rupees as ``int`` and
otherwise the float whose shortest ``repr`` is the exact two-decimal amount (what ``json.dumps``
writes); we read amounts back through that same ``repr`` into ``Decimal``. No arithmetic is ever
done on a float. ``x-api-version`` is the SDK's own (``Cashfree.XApiVersion``), the version its
models were generated from.

Idempotency: ``order_id`` is our attempt id and ``refund_id`` our refund id; Cashfree refuses a
second order or refund with the same id (409), which we answer by fetching the first one (and
``Conflict`` if its amount differs). Both POSTs also carry an ``x-idempotency-key`` derived
from those ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import urllib3
from cashfree_pg.api_client import ApiClient, Cashfree
from cashfree_pg.configuration import Configuration
from cashfree_pg.exceptions import ApiException, OpenApiException
from cashfree_pg.models.create_order_request import CreateOrderRequest
from cashfree_pg.models.customer_details import CustomerDetails
from cashfree_pg.models.order_create_refund_request import OrderCreateRefundRequest
from cashfree_pg.models.order_entity import OrderEntity
from cashfree_pg.models.order_meta import OrderMeta
from cashfree_pg.models.payment_entity import PaymentEntity
from cashfree_pg.models.refund_entity import RefundEntity
from pydantic import ValidationError, field_validator

from protocols.errors import (
    Conflict,
    GatewayRejected,
    GatewayUnavailable,
    Internal,
    Invalid,
    NotFound,
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
from protocols.wire import validation_details

T = TypeVar("T")

GATEWAY = "cashfree"
PRODUCTION_BASE_URL = "https://api.cashfree.com/pg"
SANDBOX_BASE_URL = "https://sandbox.cashfree.com/pg"
API_VERSION: str = Cashfree.XApiVersion
SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"
WEBHOOK_IDEMPOTENCY_HEADER = "x-idempotency-key"
DEFAULT_WEBHOOK_TOLERANCE_SECS = 300

_AUTH_SETTINGS = ["XClientID", "XClientSecret"]
# Every 2xx body is taken as plain JSON and validated by the SDK's models ourselves, so a model
# quirk can be corrected before validation (see ``_RefundEntity``, ``_with_str_ids``).
_RAW_JSON = {"200": "object", "201": "object"}
_IDEMPOTENCY_NAMESPACE = uuid.UUID("0b8f4f2e-6a43-4f63-9a59-3c1f2d4e8a71")

_ORDER_STATUSES = {
    "ACTIVE": OrderStatus.CREATED,
    "PAID": OrderStatus.PAID,
    "EXPIRED": OrderStatus.EXPIRED,
    "TERMINATED": OrderStatus.FAILED,
    # Not final: a payment already in flight may still succeed.
    "TERMINATION_REQUESTED": OrderStatus.CREATED,
}
_PAYMENT_STATUSES = {
    "SUCCESS": PaymentStatus.CAPTURED,
    "PENDING": PaymentStatus.PENDING,
    "NOT_ATTEMPTED": PaymentStatus.PENDING,
    "FAILED": PaymentStatus.FAILED,
    "USER_DROPPED": PaymentStatus.FAILED,
    "CANCELLED": PaymentStatus.FAILED,
    "VOID": PaymentStatus.FAILED,
}
_REFUND_STATUSES = {
    "SUCCESS": RefundStatus.PROCESSED,
    "PENDING": RefundStatus.PENDING,
    "ONHOLD": RefundStatus.PENDING,
    "CANCELLED": RefundStatus.FAILED,
    "FAILED": RefundStatus.FAILED,
}


class _RefundEntity(RefundEntity):
    """``RefundEntity`` that admits every status the API documents (6.0.1 rejects FAILED)."""

    @field_validator("refund_status")
    @classmethod
    def refund_status_validate_enum(cls, value: str | None) -> str | None:
        if value is not None and value not in _REFUND_STATUSES:
            raise ValueError(f"unknown refund_status {value!r}")
        return value

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> _RefundEntity:
        return cls.model_validate(obj)


class CashfreeGateway:
    """One tenant's Cashfree account.

    ``request_timeout_secs`` is the total urllib3 timeout of each HTTP request;
    ``deadline_secs`` (default three times that) bounds each awaited call including the wait for
    a worker thread (see :class:`BlockingCalls`). ``webhook_tolerance_secs``: how far a
    webhook's timestamp may be from ``now``, either way.
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
        webhook_tolerance_secs: int = DEFAULT_WEBHOOK_TOLERANCE_SECS,
    ) -> None:
        self._credentials = credentials
        self._request_timeout_secs = request_timeout_secs
        self._webhook_tolerance_ms = webhook_tolerance_secs * 1000
        self._calls = BlockingCalls(
            gateway=GATEWAY,
            deadline_secs=deadline_secs or 3 * request_timeout_secs,
            executor=executor,
            max_workers=max_workers,
        )
        configuration = Configuration(
            host=(credentials.base_url or PRODUCTION_BASE_URL).rstrip("/"),
            api_key={
                "XClientID": credentials.key_id,
                "XClientSecret": credentials.key_secret.get_secret_value(),
            },
        )
        self._api = ApiClient(configuration=configuration)
        self._api.rest_client.pool_manager = urllib3.PoolManager(
            num_pools=4,
            maxsize=max_workers,
            cert_reqs="CERT_REQUIRED",
            retries=urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0),
        )

    # -- API calls -------------------------------------------------------------------------

    async def create_order(self, order: OrderRequest) -> GatewayOrder:
        body = _model(
            lambda: CreateOrderRequest(
                order_id=order.attempt_id,
                order_amount=paise_to_rupees(order.amount_paise),
                order_currency=order.currency,
                customer_details=CustomerDetails(
                    customer_id=order.customer_id,
                    customer_phone=order.customer_phone,
                    customer_email=order.customer_email,
                    customer_name=order.customer_name,
                ),
                order_meta=OrderMeta(return_url=order.return_url) if order.return_url else None,
                order_expiry_time=order.expires_at.isoformat() if order.expires_at else None,
                order_tags=dict(order.notes) or None,
            )
        )
        key = self._idempotency_key("create_order", order.attempt_id)

        def create() -> GatewayOrder | None:
            raw = self._request(
                "POST", "/orders", body=body, idempotency_key=key, duplicate_ok=True
            )
            return None if raw is None else _order(raw)

        created = await self._calls.run(
            self._translated(create, "create_order"), what="create_order"
        )
        if created is not None:
            return created
        existing = await self.fetch_order(order.attempt_id)
        if (existing.amount_paise, existing.currency) != (order.amount_paise, order.currency):
            raise Conflict(
                "a cashfree order with this attempt id exists with another amount",
                {"gateway": GATEWAY, "attempt_id": order.attempt_id},
            )
        return existing

    async def fetch_order(self, gateway_order_id: str) -> GatewayOrder:
        def fetch() -> GatewayOrder:
            raw = self._request("GET", "/orders/{order_id}", {"order_id": gateway_order_id})
            return _order(raw)

        return await self._calls.run(self._translated(fetch, "fetch_order"), what="fetch_order")

    async def fetch_payments(self, gateway_order_id: str) -> list[GatewayPayment]:
        def fetch() -> list[GatewayPayment]:
            raw = self._request(
                "GET", "/orders/{order_id}/payments", {"order_id": gateway_order_id}
            )
            if not isinstance(raw, list):
                raise _unreadable("payment list")
            return [_payment(item) for item in raw]

        return await self._calls.run(
            self._translated(fetch, "fetch_payments"), what="fetch_payments"
        )

    async def refund(self, request: RefundRequest) -> GatewayRefund:
        body = _model(
            lambda: OrderCreateRefundRequest(
                refund_amount=paise_to_rupees(request.amount_paise),
                refund_id=request.refund_id,
                refund_note=request.note,
                refund_speed="STANDARD",
            )
        )
        key = self._idempotency_key("refund", request.refund_id)

        def create() -> GatewayRefund | None:
            raw = self._request(
                "POST",
                "/orders/{order_id}/refunds",
                {"order_id": request.gateway_order_id},
                body=body,
                idempotency_key=key,
                duplicate_ok=True,
            )
            return None if raw is None else _refund(raw)

        created = await self._calls.run(self._translated(create, "refund"), what="refund")
        if created is not None:
            return created
        existing = await self.fetch_refund(
            gateway_order_id=request.gateway_order_id, gateway_refund_id=request.refund_id
        )
        if existing.amount_paise != request.amount_paise:
            raise Conflict(
                "a cashfree refund with this refund id exists with another amount",
                {"gateway": GATEWAY, "refund_id": request.refund_id},
            )
        return existing

    async def fetch_refund(self, *, gateway_order_id: str, gateway_refund_id: str) -> GatewayRefund:
        def fetch() -> GatewayRefund:
            raw = self._request(
                "GET",
                "/orders/{order_id}/refunds/{refund_id}",
                {"order_id": gateway_order_id, "refund_id": gateway_refund_id},
            )
            return _refund(raw)

        return await self._calls.run(self._translated(fetch, "fetch_refund"), what="fetch_refund")

    async def aclose(self) -> None:
        await self._calls.aclose()
        self._api.rest_client.pool_manager.clear()

    # -- signatures (pure, no I/O) -----------------------------------------------------------

    def verify_checkout_signature(
        self, *, gateway_order_id: str, gateway_payment_id: str, signature: str
    ) -> None:
        """Always refuses: Cashfree's checkout return carries no signature, so an app's claim
        that an order was paid cannot be authenticated. Confirm with :meth:`fetch_order` /
        :meth:`fetch_payments` or the webhook instead."""
        raise WebhookSignatureInvalid(
            "cashfree checkout returns are unsigned; confirm the payment with fetch_order",
            {"gateway": GATEWAY, "reason": "unsigned"},
        )

    def parse_webhook(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime
    ) -> WebhookEvent:
        """Base64 HMAC-SHA256 of ``x-webhook-timestamp`` + raw body, keyed with a webhook secret
        (the client secret when none are configured), header ``x-webhook-signature``. The
        timestamp (milliseconds since the epoch; seconds accepted) must be within the tolerance
        of ``now`` either way. Dedupe key: the ``x-idempotency-key`` header when present, else
        type + Cashfree entity id + status, else the body's SHA-256."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        lowered = lower_keys(headers)
        signature = lowered.get(SIGNATURE_HEADER)
        timestamp = lowered.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            header = TIMESTAMP_HEADER if signature else SIGNATURE_HEADER
            raise WebhookSignatureInvalid(
                f"missing {header} header",
                {"gateway": GATEWAY, "reason": "missing_header", "header": header},
            )
        secrets = self._credentials.webhook_secrets or (self._credentials.key_secret,)
        signed = timestamp.encode("utf-8", "surrogateescape") + raw_body
        if not matches_any_secret(
            secrets, lambda key: base64.b64encode(hmac_sha256(key, signed)), signature
        ):
            raise WebhookSignatureInvalid(
                "cashfree webhook signature does not match",
                {"gateway": GATEWAY, "reason": "mismatch"},
            )
        self._check_fresh(timestamp, now)
        payload = _json_object(raw_body)
        event_type = payload.get("type")
        if not isinstance(event_type, str):
            raise Invalid("cashfree webhook has no type", {"gateway": GATEWAY})
        data = _sub(payload, "data")
        order, payment, refund = _sub(data, "order"), _sub(data, "payment"), _sub(data, "refund")
        order_id = order.get("order_id") or refund.get("order_id")
        payment_id = payment.get("cf_payment_id") or refund.get("cf_payment_id")
        return WebhookEvent(
            gateway=GATEWAY,
            event_id=lowered.get(WEBHOOK_IDEMPOTENCY_HEADER)
            or _derived_event_id(event_type, payment, refund, raw_body),
            event_type=event_type,
            payload=payload,
            received_at=now,
            gateway_order_id=str(order_id) if order_id else None,
            gateway_payment_id=str(payment_id) if payment_id else None,
        )

    # -- plumbing ----------------------------------------------------------------------------

    def _check_fresh(self, timestamp: str, now: datetime) -> None:
        if not timestamp.isascii() or not timestamp.isdigit():
            raise WebhookSignatureInvalid(
                "cashfree webhook timestamp is not a number",
                {"gateway": GATEWAY, "reason": "bad_timestamp"},
            )
        sent_ms = int(timestamp)
        if len(timestamp) <= 10:  # seconds, not milliseconds
            sent_ms *= 1000
        skew_ms = round(now.timestamp() * 1000) - sent_ms
        if abs(skew_ms) > self._webhook_tolerance_ms:
            reason = "stale" if skew_ms > 0 else "future"
            raise WebhookSignatureInvalid(
                f"cashfree webhook timestamp is {reason}",
                {"gateway": GATEWAY, "reason": reason},
            )

    def _idempotency_key(self, operation: str, our_id: str) -> str:
        name = f"{self._credentials.key_id}:{operation}:{our_id}"
        return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, name))

    def _request(
        self,
        method: str,
        path: str,
        path_params: dict[str, str] | None = None,
        *,
        body: Any = None,
        idempotency_key: str | None = None,
        duplicate_ok: bool = False,
    ) -> Any:
        """One blocking HTTP call through this tenant's own ``ApiClient``; the raw JSON answer,
        or ``None`` for a 409 when ``duplicate_ok``. Runs in a worker thread."""
        headers = {
            "x-api-version": API_VERSION,
            "x-request-id": str(uuid.uuid4()),
            "Accept": "application/json",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["x-idempotency-key"] = idempotency_key
        try:
            return self._api.call_api(
                path,
                method,
                path_params or {},
                [],
                headers,
                body=body,
                post_params=[],
                files={},
                response_types_map=_RAW_JSON,
                auth_settings=_AUTH_SETTINGS,
                _return_http_data_only=True,
                _preload_content=True,
                _request_timeout=self._request_timeout_secs,
                collection_formats={},
            )
        except ApiException as exc:
            if duplicate_ok and exc.status == 409:
                return None
            raise

    @staticmethod
    def _translated(call: Callable[[], T], what: str) -> Callable[[], T]:
        """``call`` with SDK, urllib3 and model errors turned into ours, in the worker."""

        def translated() -> T:
            try:
                return call()
            except SevaError:
                raise
            except ApiException as exc:
                raise _from_status(exc, what) from exc
            except urllib3.exceptions.HTTPError as exc:
                cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
                # urllib3 2.0 derives NewConnectionError (refused, DNS) from ConnectTimeoutError.
                timed_out = isinstance(cause, urllib3.exceptions.TimeoutError) and not isinstance(
                    cause, urllib3.exceptions.NewConnectionError
                )
                reason = "timeout" if timed_out else "unreachable"
                raise GatewayUnavailable(
                    f"cashfree {what} failed: {reason}",
                    {"gateway": GATEWAY, "operation": what, "reason": reason},
                ) from exc
            except ValidationError as exc:
                raise _unreadable(f"answer to {what}") from exc
            except OpenApiException as exc:
                raise Internal(f"cashfree sdk refused {what}") from exc

        return translated


def paise_to_rupees(amount_paise: int) -> int | float:
    """Rupees for the SDK's ``float | int`` amount fields, exactly: whole rupees as ``int``,
    otherwise the float whose shortest ``repr`` is the two-decimal amount."""
    if amount_paise % 100 == 0:
        return amount_paise // 100
    exact = Decimal(amount_paise).scaleb(-2)
    carrier = float(exact)
    if Decimal(repr(carrier)) != exact:  # only past 2**53 paise; refuse rather than round
        raise Invalid("amount too large for cashfree", {"gateway": GATEWAY})
    return carrier


def rupees_to_paise(value: object) -> int:
    """Paise from a JSON amount in rupees, read through ``repr`` so ``10.15`` is 1015 exactly.
    Raises ``GatewayUnavailable`` for anything but a non-negative amount with at most two
    decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _unreadable("amount")
    rupees = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    paise = rupees.scaleb(2)
    if not paise.is_finite() or paise < 0 or paise != paise.to_integral_value():
        raise _unreadable("amount")
    return int(paise)


def _model(build: Callable[[], T]) -> T:
    """Build an SDK request model; what it refuses Cashfree would refuse too."""
    try:
        return build()
    except ValidationError as exc:
        raise GatewayRejected(
            "cashfree would refuse this request", validation_details(exc)
        ) from exc


def _from_status(exc: ApiException, what: str) -> SevaError:
    status = exc.status or 0
    details: dict[str, Any] = {"gateway": GATEWAY, "operation": what, "gateway_status": status}
    message = ""
    try:
        body = json.loads(exc.body) if exc.body else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("code"), str):
            details["gateway_code"] = body["code"]
        if isinstance(body.get("message"), str):
            message = body["message"]
    if status == 404:
        return NotFound(f"cashfree has no such {what.removeprefix('fetch_')}", details)
    if status == 429:
        return GatewayUnavailable(f"cashfree rate-limited {what}", {**details, "reason": "rate"})
    if 400 <= status < 500:
        return GatewayRejected(f"cashfree rejected {what}: {message}".rstrip(": "), details)
    return GatewayUnavailable(f"cashfree failed {what}", {**details, "reason": "server_error"})


def _unreadable(what: str) -> GatewayUnavailable:
    return GatewayUnavailable(
        f"cashfree answered with an unreadable {what}", {"gateway": GATEWAY, "reason": "unreadable"}
    )


def _with_str_ids(raw: Any, *keys: str) -> dict[str, Any]:
    """A copy with numeric ids as strings: Cashfree sends ``cf_payment_id`` as a number in
    places, the SDK's models insist on ``StrictStr``."""
    if not isinstance(raw, dict):
        raise _unreadable("entity")
    fixed = dict(raw)
    for key in keys:
        value = fixed.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            fixed[key] = str(value)
    return fixed


def _order(raw: Any) -> GatewayOrder:
    entity = OrderEntity.from_dict(_with_str_ids(raw, "cf_order_id"))
    status = _ORDER_STATUSES.get(entity.order_status or "")
    if status is None or not entity.order_id or not entity.order_currency:
        raise _unreadable("order")
    return GatewayOrder(
        gateway=GATEWAY,
        gateway_order_id=entity.order_id,
        attempt_id=entity.order_id,
        amount_paise=rupees_to_paise(entity.order_amount),
        currency=entity.order_currency,
        status=status,
        checkout_token=entity.payment_session_id,
    )


def _payment(raw: Any) -> GatewayPayment:
    entity = PaymentEntity.from_dict(_with_str_ids(raw, "cf_payment_id"))
    status = _PAYMENT_STATUSES.get(entity.payment_status or "")
    if status is None or not entity.cf_payment_id or not entity.order_id:
        raise _unreadable("payment")
    errors = entity.error_details
    return GatewayPayment(
        gateway=GATEWAY,
        gateway_payment_id=entity.cf_payment_id,
        gateway_order_id=entity.order_id,
        amount_paise=rupees_to_paise(entity.payment_amount),
        currency=entity.payment_currency or "INR",
        status=status,
        method=entity.payment_group,
        error_code=errors.error_code if errors else None,
        error_description=errors.error_description if errors else None,
    )


def _refund(raw: Any) -> GatewayRefund:
    entity = _RefundEntity.from_dict(_with_str_ids(raw, "cf_payment_id", "cf_refund_id"))
    status = _REFUND_STATUSES.get(entity.refund_status or "")
    if status is None or not entity.refund_id:
        raise _unreadable("refund")
    return GatewayRefund(
        gateway=GATEWAY,
        gateway_refund_id=entity.refund_id,
        refund_id=entity.refund_id,
        gateway_payment_id=entity.cf_payment_id,
        amount_paise=rupees_to_paise(entity.refund_amount),
        status=status,
    )


def _json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body)
    except ValueError as exc:
        raise Invalid("cashfree webhook body is not JSON", {"gateway": GATEWAY}) from exc
    if not isinstance(payload, dict):
        raise Invalid("cashfree webhook body is not a JSON object", {"gateway": GATEWAY})
    return payload


def _sub(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, Mapping) else {}


def _derived_event_id(
    event_type: str, payment: Mapping[str, Any], refund: Mapping[str, Any], raw_body: bytes
) -> str:
    if refund.get("cf_refund_id") and refund.get("refund_status"):
        return f"{event_type}:{refund['cf_refund_id']}:{refund['refund_status']}"
    if payment.get("cf_payment_id") and payment.get("payment_status"):
        return f"{event_type}:{payment['cf_payment_id']}:{payment['payment_status']}"
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()
