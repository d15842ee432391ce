"""Who may call what: every REST handler declares one permission with ``@requires``.

The guard middleware fails closed: a route without a declared permission answers 403 (and a
test walks every route to prove there is none). Socket.IO events declare theirs in
``hub/sockets.py``; both use :func:`authorize`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from hub.auth import Principal, TokenIssuer
from hub.sessions import SessionControl
from protocols.errors import Forbidden, Unauthorized
from protocols.permissions import Perm

log = logging.getLogger(__name__)

H = TypeVar("H", bound=Callable[..., Awaitable[Any]])
_ATTR = "__seva_permission__"
PRINCIPAL = web.RequestKey("principal", Principal)
TOKENS = web.AppKey("tokens", TokenIssuer)
SESSIONS = web.AppKey("sessions", SessionControl)
SOCKET_IO_PREFIX = "/socket.io"


def requires(perm: Perm) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        setattr(handler, _ATTR, perm)
        return handler

    return mark


def permission_of(handler: object) -> Perm | None:
    return getattr(handler, _ATTR, None)


async def authorize(sessions: SessionControl, principal: Principal, perm: Perm) -> None:
    """Raises Unauthorized (revoked session), TenantSuspended, or Forbidden (no permission)."""
    await sessions.check(principal)
    if not principal.can(perm):
        raise Forbidden(f"your role may not do this (needs {perm})", {"permission": str(perm)})


def bearer_principal(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <access token>'")
    return request.app[TOKENS].verify(token.strip())


@web.middleware
async def guard_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    info = request.match_info
    if info.http_exception is not None or request.path.startswith(SOCKET_IO_PREFIX):
        # Unknown route or method (answered by the error middleware), or the Socket.IO
        # endpoint, which authenticates in its connect handler.
        return await handler(request)
    perm = permission_of(info.handler)
    if perm is None:
        log.error("route %s has no declared permission; refusing", request.path)
        raise Forbidden("this route is not open to anyone")
    if perm is not Perm.PUBLIC:
        principal = bearer_principal(request)
        await authorize(request.app[SESSIONS], principal, perm)
        request[PRINCIPAL] = principal
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]
