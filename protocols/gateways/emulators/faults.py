"""Switchable failure modes for the emulated gateway APIs, to exercise retries and failover.

A :class:`FaultPolicy` applies to the gateway's own routes (``/v1/...``, ``/pg/...``), never to
the ``/_emulator`` control API. Modes:

``none``
    Every request is served normally.
``error_500``
    Matching requests answer ``500`` in the gateway's error shape; nothing is applied.
``error_once``
    Like ``error_500`` for the next matching request only (``count`` is forced to 1).
``timeout``
    Matching requests are held for ``delay_secs`` (or until the emulator shuts down), then
    answer ``504`` in the gateway's error shape; nothing is applied. A client with a shorter
    timeout sees its own timeout error.
``slow``
    Matching requests are held for ``delay_secs``, then applied and answered normally: a client
    that gave up earlier does not learn that its request took effect (the case idempotency keys
    and reconciliation exist for).

``routes`` (optional) narrows the policy to requests matching any of the ``fnmatch`` patterns,
tried against ``"METHOD /path"`` and against ``"/path"``: ``["POST /v1/orders"]``,
``["/pg/orders/*/refunds"]``. ``count`` (optional) limits how many matching requests are
affected; after that the policy returns to ``none``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ConfigDict, Field

FaultMode = Literal["none", "error_500", "error_once", "timeout", "slow"]

ErrorRenderer = Callable[[int, str], web.Response]
"""Builds a gateway-shaped error response from an HTTP status and a message."""


class FaultPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: FaultMode = "none"
    routes: tuple[str, ...] | None = None
    delay_secs: float = Field(default=30.0, ge=0, le=3600)
    count: int | None = Field(default=None, ge=1)

    def matches(self, method: str, path: str) -> bool:
        if self.mode == "none":
            return False
        if not self.routes:
            return True
        target = f"{method.upper()} {path}"
        return any(
            fnmatch.fnmatchcase(target, pattern) or fnmatch.fnmatchcase(path, pattern)
            for pattern in self.routes
        )


class FaultInjector:
    """Holds the current policy and decides, request by request, which fault (if any) applies.

    ``closing`` is set when the emulator shuts down so that held requests end promptly instead
    of keeping the server's graceful shutdown waiting.
    """

    def __init__(self) -> None:
        self._policy = FaultPolicy()
        self._remaining: int | None = None
        self.closing = asyncio.Event()

    @property
    def policy(self) -> FaultPolicy:
        return self._policy

    def set_policy(self, policy: FaultPolicy) -> FaultPolicy:
        if policy.mode == "error_once":
            policy = policy.model_copy(update={"count": 1})
        self._policy = policy
        self._remaining = policy.count
        return policy

    def take(self, method: str, path: str) -> FaultPolicy | None:
        """The policy to apply to this request, consuming one unit of ``count``; else None."""
        policy = self._policy
        if not policy.matches(method, path):
            return None
        if self._remaining is not None:
            self._remaining -= 1
            if self._remaining <= 0:
                self._policy = FaultPolicy()
                self._remaining = None
        return policy

    async def hold(self, delay_secs: float) -> None:
        """Sleep ``delay_secs``, or less if the emulator is shutting down."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=delay_secs)


def fault_middleware(
    injector: FaultInjector, *, api_prefixes: tuple[str, ...], render_error: ErrorRenderer
) -> Middleware:
    """An aiohttp middleware applying ``injector``'s policy to paths under ``api_prefixes``."""

    @web.middleware
    async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if not request.path.startswith(api_prefixes):
            return await handler(request)
        policy = injector.take(request.method, request.path)
        if policy is None:
            return await handler(request)
        if policy.mode in ("error_500", "error_once"):
            return render_error(500, "emulated server error (fault mode error_500)")
        await injector.hold(policy.delay_secs)
        if policy.mode == "timeout":
            return render_error(504, "emulated gateway timeout (fault mode timeout)")
        return await handler(request)  # "slow": late, but applied

    return middleware
