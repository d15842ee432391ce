"""The one error tree of Seva Hub.

Every layer raises these (translating driver/SDK errors at its own edge, ``raise ... from exc``);
the hub maps them to HTTP statuses and Socket.IO error acks in one place (``hub/errors.py``)::

    SevaError                      code          HTTP
    ├── Unauthorized               unauthorized  401
    │   └── WebhookSignatureInvalid  webhook_signature_invalid  401
    ├── Forbidden                  forbidden     403
    │   ├── TenantSuspended        tenant_suspended  403
    │   └── LimitExceeded          limit_exceeded    403
    ├── Invalid                    invalid       422 (400 for a body that is not JSON)
    │   └── GatewayRejected        gateway_rejected  422  (the gateway refused what we sent)
    ├── NotFound                   not_found     404
    ├── Conflict                   conflict      409
    │   ├── SoldOut                sold_out      409
    │   ├── InsufficientFunds      insufficient_funds  409
    │   └── PaymentDeclined        payment_declined  402  (bank or gateway refused the money)
    ├── RateLimited                rate_limited  429
    ├── Unavailable                unavailable   503  (retryable: send the same request again)
    │   └── GatewayUnavailable     gateway_unavailable  503  (payment gateway down or timed out)
    └── Internal                   internal      500  (never carries a stack trace to the client)

Errors must survive pickling, because actors raise them inside Ray and the hub re-raises them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SevaError(Exception):
    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message, details)
        self.message = message
        self.details = details

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Unauthorized(SevaError):
    code = "unauthorized"
    http_status = 401


class WebhookSignatureInvalid(Unauthorized):
    """A gateway webhook or checkout callback whose signature (or timestamp) does not verify.

    401 like any unauthenticated caller: the request did not prove it came from the gateway.
    """

    code = "webhook_signature_invalid"


class Forbidden(SevaError):
    code = "forbidden"
    http_status = 403


class TenantSuspended(Forbidden):
    code = "tenant_suspended"


class LimitExceeded(Forbidden):
    code = "limit_exceeded"


class Invalid(SevaError):
    code = "invalid"
    http_status = 422


class GatewayRejected(Invalid):
    """The payment gateway answered 4xx to what we sent (amount below its minimum, refund
    above the captured amount, malformed customer details, bad credentials). Resending the same
    request cannot succeed; ``details`` carries the gateway's own code."""

    code = "gateway_rejected"


class NotFound(SevaError):
    code = "not_found"
    http_status = 404


class Conflict(SevaError):
    code = "conflict"
    http_status = 409


class SoldOut(Conflict):
    code = "sold_out"
    http_status = 409


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    http_status = 409


class PaymentDeclined(Conflict):
    """The bank or gateway refused to move the money. 402 Payment Required, the status
    payment APIs conventionally use for a decline, so clients can tell it from a state
    conflict; retrying the same request will not help, paying another way may."""

    code = "payment_declined"
    http_status = 402


class RateLimited(SevaError):
    code = "rate_limited"
    http_status = 429


class Unavailable(SevaError):
    code = "unavailable"
    http_status = 503


class GatewayUnavailable(Unavailable):
    """The payment gateway could not be reached, timed out, answered 5xx or an unreadable
    body. Whether the request took effect is unknown: retry with the same idempotency key or
    reconcile by fetching."""

    code = "gateway_unavailable"


class Internal(SevaError):
    code = "internal"
    http_status = 500


ERROR_CODES: tuple[str, ...] = (
    "unauthorized",
    "forbidden",
    "tenant_suspended",
    "limit_exceeded",
    "invalid",
    "not_found",
    "sold_out",
    "insufficient_funds",
    "conflict",
    "rate_limited",
    "unavailable",
    "internal",
    "webhook_signature_invalid",
    "gateway_rejected",
    "payment_declined",
    "gateway_unavailable",
)
