"""The one place where the error tree becomes wire errors: HTTP bodies and Socket.IO acks."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from protocols.errors import Internal, Invalid, SevaError
from protocols.wire import validation_details

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def as_seva_error(exc: BaseException) -> SevaError:
    """Any exception as a SevaError; unknown ones are logged and become ``internal``."""
    if isinstance(exc, SevaError):
        return exc
    if isinstance(exc, ValidationError):
        return Invalid("payload does not match the schema", validation_details(exc))
    log.exception("unexpected error", exc_info=exc)
    return Internal("unexpected error; it has been logged")


def error_ack(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": as_seva_error(exc).to_wire()}


def ok_ack(data: Any) -> dict[str, Any]:
    return {"ok": True, "data": data}


def error_response(exc: BaseException, *, status: int | None = None) -> web.Response:
    err = as_seva_error(exc)
    headers = {}
    if isinstance(err.details, dict) and "retry_after_secs" in err.details:
        headers["Retry-After"] = str(max(1, math.ceil(float(err.details["retry_after_secs"]))))
    return web.json_response(
        {"error": err.to_wire()}, status=status or err.http_status, headers=headers
    )


_HTTP_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "invalid",
    409: "conflict",
    413: "invalid",
    415: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No HTML error page and no stack trace ever leaves the hub."""
    try:
        return await handler(request)
    except SevaError as exc:
        return error_response(exc)
    except ValidationError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "internal" if exc.status >= 500 else "invalid")
        body = {"error": {"code": code, "message": exc.reason, "details": None}}
        return web.json_response(body, status=exc.status, headers=_allow_header(exc))
    except Exception as exc:
        return error_response(exc)


def _allow_header(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow") if exc.headers else None
    return {"Allow": allow} if allow else {}
