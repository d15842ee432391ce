"""Logging for the hub process: masked one-line JSON (or readable text) with request context.

``configure_logging(fmt, level)`` replaces the root logger's handlers with one stderr handler
(:func:`protocols.log_lines.json_handler`): every record, from any library, is masked and
carries the bound context. ``SEVA_LOG_FORMAT=json`` (default) or ``text``.

Context binding (README "Observability"):

- HTTP: :func:`log_context_middleware` (right after the request id middleware) binds
  ``request_id`` for the whole request; :func:`log_principal_middleware` (after the guard) adds
  ``user_id`` and ``tenant_id`` once the caller is known.
- Socket.IO: :func:`socket_event_context` binds ``socket_id``, ``user_id``, ``tenant_id`` and a
  fresh ``request_id`` per client event (the socket wrapper in ``hub/sockets.py``).
- Shards: :class:`actors.pool.ShardPool` sends the bound context with every command.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TextIO

from aiohttp import web

from hub.guard import PRINCIPAL
from hub.requests import REQUEST_ID
from protocols.log_lines import (
    bind_log_context,
    json_handler,
    log_context,
    update_log_context,
)

LogFormat = Literal["json", "text"]

__all__ = [
    "LogFormat",
    "configure_logging",
    "log_context_middleware",
    "log_principal_middleware",
    "socket_event_context",
]


def configure_logging(fmt: LogFormat, level: str, *, stream: TextIO | None = None) -> None:
    """One handler on the root logger (stderr unless ``stream``), masked, in ``fmt``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler(stream or sys.stderr, json_lines=fmt == "json"))
    root.setLevel(level.upper())


@web.middleware
async def log_context_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Binds ``request_id`` (set by ``request_id_middleware``, which must run before).

    Not reset afterwards on purpose: aiohttp runs each request in a task of its own, and the
    access log line is written in that task after the middlewares returned; it must carry
    the request id too. Tasks the handler starts inherit the context (a copy)."""
    bind_log_context(request_id=request.get(REQUEST_ID))
    return await handler(request)


@web.middleware
async def log_principal_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Adds the authenticated caller to the request's context (after ``guard_middleware``)."""
    principal = request.get(PRINCIPAL)
    if principal is not None:
        update_log_context(user_id=principal.user_id, tenant_id=principal.tenant_id)
    return await handler(request)


def socket_event_context(sid: str, principal: Any, event: str) -> Any:
    """The log context of one client event (a context manager); ``principal`` may be None."""
    return log_context(
        request_id=uuid.uuid4().hex,
        socket_id=sid,
        user_id=getattr(principal, "user_id", None),
        tenant_id=getattr(principal, "tenant_id", None),
        event=event,
    )
