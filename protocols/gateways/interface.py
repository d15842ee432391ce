"""The payment gateway contract, and what every adapter of it shares.

One :class:`PaymentGateway` per tenant and gateway: an adapter instance holds that tenant's
:class:`GatewayCredentials` and nothing else tenant-specific, so two tenants never share a
client object. Adapters: ``razorpay_adapter.RazorpayGateway``, ``cashfree_adapter.CashfreeGateway``;
in tests they talk to the local gateway emulators under ``emulators/`` or to stubs.

Contract every adapter keeps:

- Money is integer paise on both sides of the interface; conversion to a gateway's unit happens
  inside the adapter, exactly.
- Gateway statuses are normalized to :class:`OrderStatus`, :class:`PaymentStatus`,
  :class:`RefundStatus`; a status the adapter does not know is an unreadable answer, never a
  guess.
- Errors are translated at the adapter: a 4xx about what we sent is ``GatewayRejected``, a
  refusal to move money ``PaymentDeclined``, anything that leaves the outcome unknown
  (unreachable, timeout, 5xx, unreadable body) ``GatewayUnavailable``, an unknown id may be
  ``NotFound``. Signature failures are ``WebhookSignatureInvalid``. SDK exceptions never escape.
- SDK calls are blocking; they run on a bounded thread pool (:class:`BlockingCalls`), never on
  the event loop, with a per-request timeout inside the SDK and a deadline around the whole call.
- ``create_order`` uses our attempt id as the gateway-side reference (Razorpay ``receipt``,
  Cashfree ``order_id``), ``refund`` our refund id; see each adapter for what the gateway
  itself guarantees about retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import SecretStr

from protocols.errors import GatewayUnavailable

T = TypeVar("T")


class OrderStatus(StrEnum):
    CREATED = "created"
    ATTEMPTED = "attempted"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    CAPTURED = "captured"
    FAILED = "failed"
    PENDING = "pending"


class RefundStatus(StrEnum):
    PROCESSED = "processed"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class GatewayCredentials:
    """One tenant's account at one gateway.

    ``webhook_secrets``: the current secret first, then any still accepted during a rotation;
    a webhook signed with any of them verifies. (Cashfree signs webhooks with the client secret:
    its adapter falls back to ``key_secret`` when this is empty.) ``base_url``: ``None`` for
    the gateway's production API; a sandbox or a local emulator otherwise.
    """

    key_id: str
    key_secret: SecretStr
    webhook_secrets: tuple[SecretStr, ...] = ()
    base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.key_id or not self.key_secret.get_secret_value():
            raise ValueError("gateway credentials need a key id and a key secret")


@dataclass(frozen=True)
class OrderRequest:
    """What we ask a gateway to collect.

    ``attempt_id`` is our payment attempt's id, deterministic per attempt: Razorpay ``receipt``
    (max 40 chars), Cashfree ``order_id`` (3-45 chars of ``[A-Za-z0-9_-]``). Cashfree requires
    the customer's id and 10-digit phone; Razorpay ignores them. ``expires_at`` is honoured by
    Cashfree only (Razorpay orders do not expire).
    """

    attempt_id: str
    amount_paise: int
    customer_id: str
    customer_phone: str
    currency: str = "INR"
    customer_email: str | None = None
    customer_name: str | None = None
    return_url: str | None = None
    expires_at: datetime | None = None
    notes: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.amount_paise <= 0:
            raise ValueError("amount_paise must be positive")


@dataclass(frozen=True)
class GatewayOrder:
    """``gateway_order_id`` is what every later call takes (Razorpay ``order_…``; Cashfree uses
    our attempt id). ``checkout_token`` is what the app's checkout needs besides the key id:
    Cashfree's ``payment_session_id``; ``None`` for Razorpay (its checkout takes the order id)."""

    gateway: str
    gateway_order_id: str
    attempt_id: str
    amount_paise: int
    currency: str
    status: OrderStatus
    checkout_token: str | None = None


@dataclass(frozen=True)
class GatewayPayment:
    gateway: str
    gateway_payment_id: str
    gateway_order_id: str
    amount_paise: int
    currency: str
    status: PaymentStatus
    method: str | None = None
    error_code: str | None = None
    error_description: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    """``refund_id`` is ours and deterministic per refund (Razorpay ``receipt``, Cashfree
    ``refund_id``, 3-40 chars). Razorpay refunds a payment, Cashfree an order: both ids are
    given so either adapter has what it needs."""

    refund_id: str
    gateway_order_id: str
    gateway_payment_id: str
    amount_paise: int
    note: str | None = None

    def __post_init__(self) -> None:
        if self.amount_paise <= 0:
            raise ValueError("amount_paise must be positive")


@dataclass(frozen=True)
class GatewayRefund:
    """``gateway_refund_id`` is what :meth:`PaymentGateway.fetch_refund` takes (Razorpay
    ``rfnd_…``; Cashfree our own refund id)."""

    gateway: str
    gateway_refund_id: str
    refund_id: str | None
    gateway_payment_id: str | None
    amount_paise: int
    status: RefundStatus


@dataclass(frozen=True)
class WebhookEvent:
    """A webhook whose signature verified.

    ``event_id`` is the dedupe key (stable across the gateway's retries of the same event). It
    may come from a header the signature does not cover, so handlers must still be idempotent
    on the state they change; dedupe saves work, it does not guard correctness.
    """

    gateway: str
    event_id: str
    event_type: str
    payload: Mapping[str, Any] = field(hash=False)
    received_at: datetime
    gateway_order_id: str | None = None
    gateway_payment_id: str | None = None


@runtime_checkable
class PaymentGateway(Protocol):
    """One tenant's account at one payment gateway."""

    name: str

    async def create_order(self, order: OrderRequest) -> GatewayOrder:
        """Create the gateway order for one payment attempt.

        Raises ``GatewayRejected`` (bad amount, customer details, credentials),
        ``GatewayUnavailable`` (outcome unknown: fetch or retry with the same attempt id).
        """
        ...

    async def fetch_order(self, gateway_order_id: str) -> GatewayOrder: ...

    async def fetch_payments(self, gateway_order_id: str) -> list[GatewayPayment]:
        """Every payment attempted against the order, oldest first as the gateway lists them."""
        ...

    async def refund(self, request: RefundRequest) -> GatewayRefund:
        """Refund (part of) a captured payment. Repeating a refund id returns the first refund
        instead of refunding twice, within what each gateway allows (see the adapters)."""
        ...

    async def fetch_refund(
        self, *, gateway_order_id: str, gateway_refund_id: str
    ) -> GatewayRefund: ...

    def verify_checkout_signature(
        self, *, gateway_order_id: str, gateway_payment_id: str, signature: str
    ) -> None:
        """Check the signature the app's checkout returned. ``gateway_order_id`` must be the id
        *we stored* for the attempt, never the one the app sent. Raises
        ``WebhookSignatureInvalid``; returns nothing on success."""
        ...

    def parse_webhook(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime
    ) -> WebhookEvent:
        """Verify a webhook over its exact raw bytes and parse it. ``now`` is the receive time
        (timezone-aware) used for timestamp freshness. Raises ``WebhookSignatureInvalid``
        (missing header, bad signature, stale or future timestamp) or ``Invalid`` (a signed body
        that is not a JSON object)."""
        ...

    async def aclose(self) -> None:
        """Release the adapter's clients, and its thread pool if it owns one."""
        ...


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Header lookups must not depend on case (a plain ``dict`` is not a ``CIMultiDict``)."""
    return {key.lower(): value for key, value in headers.items()}


def matches_any_secret(
    secrets: tuple[SecretStr, ...], sign: Callable[[bytes], bytes], received: str
) -> bool:
    """Whether ``received`` equals ``sign(secret)`` for any secret, in constant time per secret.

    Every secret is tried even after a match, so timing does not tell which one matched.
    ``received`` is compared as bytes: ``hmac.compare_digest`` on ``str`` refuses non-ASCII.
    """
    received_bytes = received.encode("utf-8", "surrogateescape")
    matched = False
    for secret in secrets:
        expected = sign(secret.get_secret_value().encode())
        matched |= hmac.compare_digest(expected, received_bytes)
    return matched


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


class BlockingCalls:
    """Runs a blocking SDK's calls on a bounded thread pool, with a deadline per call.

    ``executor``: pass one to share a pool across tenants' adapters (the caller then owns and
    shuts it down); otherwise one with ``max_workers`` threads is created and :meth:`aclose`
    shuts it down. ``deadline_secs`` bounds the whole await, including the wait for a free
    worker; the SDK's own request timeout (set by the adapter, shorter) is what frees the thread.
    When the deadline passes first, the caller gets ``GatewayUnavailable`` while the worker
    finishes on its own: the request may still take effect, which is why creation and refunds
    carry our deterministic ids.
    """

    def __init__(
        self,
        *,
        gateway: str,
        deadline_secs: float,
        executor: ThreadPoolExecutor | None = None,
        max_workers: int = 8,
    ) -> None:
        if deadline_secs <= 0:
            raise ValueError("deadline_secs must be positive")
        self.gateway = gateway
        self.deadline_secs = deadline_secs
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix=f"{gateway}-sdk"
        )

    async def run(self, call: Callable[[], T], *, what: str) -> T:
        """``call`` must translate its own SDK errors (it runs in the worker thread)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, call)
        try:
            async with asyncio.timeout(self.deadline_secs):
                return await future
        except TimeoutError as exc:
            raise GatewayUnavailable(
                f"{self.gateway} {what} did not finish within {self.deadline_secs:g}s",
                {"gateway": self.gateway, "operation": what, "reason": "deadline"},
            ) from exc

    async def aclose(self) -> None:
        if self._owns_executor:
            await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
