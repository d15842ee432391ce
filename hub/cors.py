"""Which browser origins may call the hub, for REST and for Socket.IO alike.

A page on an allowed origin gets ``Access-Control-Allow-Origin`` for REST answers (and its
preflight ``OPTIONS`` answered ``204``) and may open a Socket.IO connection; any other origin
gets no CORS headers, a ``403 forbidden`` preflight, and a refused Socket.IO handshake
(``400``). Requests without an ``Origin`` header (apps, servers, curl) are not affected: CORS
is the browser's rule, not authentication.

Allowed: the hub's own origin (the ``Origin``'s host equals the request's ``Host``, or
``X-Forwarded-Host`` with ``SEVA_TRUST_FORWARDED_FOR``), every origin listed in
``SEVA_CORS_ALLOWED_ORIGINS`` (``["*"]`` allows any), and, when that is unset on the embedded
default (no ``DATABASE_URL``), any ``http(s)`` origin on ``localhost``, ``127.0.0.1`` or
``[::1]`` so local front-end dev servers work. No credentials (cookies) are allowed: the hub
authenticates with bearer tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from hub.errors import error_response
from hub.settings import Settings
from protocols.errors import Forbidden

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
EXPOSED_HEADERS = "Retry-After, X-Request-Id"
PREFLIGHT_MAX_AGE_SECS = 600
SOCKETIO_PREFIX = "/socket.io/"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _normalized(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class CorsPolicy:
    def __init__(
        self,
        origins: Iterable[str] = (),
        *,
        allow_loopback: bool = False,
        trust_forwarded_host: bool = False,
    ) -> None:
        listed = {_normalized(o) for o in origins}
        self.any_origin = "*" in listed
        self.origins = frozenset(listed - {"*"})
        self.allow_loopback = allow_loopback
        self.trust_forwarded_host = trust_forwarded_host

    @classmethod
    def from_settings(cls, settings: Settings) -> CorsPolicy:
        configured = settings.cors_allowed_origins
        return cls(
            configured or (),
            allow_loopback=configured is None and settings.database_url is None,
            trust_forwarded_host=settings.trust_forwarded_for,
        )

    def allows(self, origin: str, *, hosts: Iterable[str]) -> bool:
        """May a page on ``origin`` call a hub that it reached as one of ``hosts``?"""
        normalized = _normalized(origin)
        if self.any_origin or normalized in self.origins:
            return True
        try:
            parts = urlsplit(normalized)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        if parts.netloc in {h.strip().lower() for h in hosts if h}:
            return True
        return self.allow_loopback and parts.hostname in _LOOPBACK_HOSTS

    def allows_request(self, origin: str, request: web.Request) -> bool:
        return self.allows(origin, hosts=self._hosts(request.headers.get("Host"), request.headers))

    def allows_socket(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        """python-engineio's ``cors_allowed_origins`` callable."""
        if not origin:
            return False
        forwarded = {"X-Forwarded-Host": environ.get("HTTP_X_FORWARDED_HOST", "")}
        return self.allows(origin, hosts=self._hosts(environ.get("HTTP_HOST"), forwarded))

    def _hosts(self, host: str | None, headers: Mapping[str, str]) -> list[str]:
        hosts = [host or ""]
        if self.trust_forwarded_host:
            hosts.append(headers.get("X-Forwarded-Host", "").split(",")[0])
        return hosts


def cors_middleware(policy: CorsPolicy) -> Middleware:
    """REST CORS for ``policy``; Socket.IO's path is left to python-engineio (same policy)."""

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or request.path.startswith(SOCKETIO_PREFIX):
            return await handler(request)
        allowed = policy.allows_request(origin, request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if not allowed:
                refused = error_response(
                    Forbidden("this origin may not call the hub", {"origin": origin[:200]})
                )
                refused.headers["Vary"] = "Origin"
                return refused
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": ALLOWED_METHODS,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECS),
                    "Vary": "Origin",
                },
            )
        response = await handler(request)
        if not response.prepared:
            vary = response.headers.get("Vary")
            response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
            if allowed:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response

    return cors
