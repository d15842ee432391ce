"""Per-request facts the edge needs: a request id, the client address, the audit context."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.guard import PRINCIPAL
from storage.audit import AuditContext

REQUEST_ID = web.RequestKey("request_id", str)
TRUST_FORWARDED_FOR = web.AppKey("trust_forwarded_for", bool)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID] = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
    response = await handler(request)
    response.headers["X-Request-Id"] = request[REQUEST_ID]
    return response


def client_ip(request: web.Request) -> str:
    if request.app.get(TRUST_FORWARDED_FOR, False):
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first[:64]
    return (request.remote or "unknown")[:64]


def audit_context(request: web.Request) -> AuditContext:
    principal = request.get(PRINCIPAL)
    return AuditContext(
        actor_user_id=principal.user_id if principal else None,
        actor_role=principal.role if principal else None,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent"),
        request_id=request.get(REQUEST_ID),
    )
