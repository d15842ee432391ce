"""The one error tree of Seva Hub.

Every layer raises these (translating driver/SDK errors at its own edge, ``raise ... from exc``);
the hub maps them to HTTP statuses and Socket.IO error acks in one place (``hub/errors.py``)::

    SevaError                      code          HTTP
    ├── Unauthorized               unauthorized  401
    ├── Forbidden                  forbidden     403
    │   ├── TenantSuspended        tenant_suspended  403
    │   └── LimitExceeded          limit_exceeded    403
    ├── Invalid                    invalid       422 (400 for a body that is not JSON)
    ├── NotFound                   not_found     404
    ├── Conflict                   conflict      409
    │   ├── SoldOut                sold_out      409
    │   └── InsufficientFunds      insufficient_funds  409
    ├── RateLimited                rate_limited  429
    ├── Unavailable                unavailable   503  (retryable: send the same request again)
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


class RateLimited(SevaError):
    code = "rate_limited"
    http_status = 429


class Unavailable(SevaError):
    code = "unavailable"
    http_status = 503


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
)
