"""Socket.IO contract on namespace ``/`` (documented in README.md).

Handshake ``auth: {"token": "<access JWT>"}``; a bad token refuses the connection with
``{code, message, details}`` as the connect error's data. Every client event answers an ack
``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {code, message, details}}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel

from hub.auth import Principal, TokenIssuer
from hub.errors import error_ack, ok_ack
from hub.fanout import AvailabilityFanout
from hub.holds import HoldService
from protocols.availability import SubscribeAvailability, UnsubscribeAvailability
from protocols.errors import Invalid, NotFound, RateLimited, Unauthorized
from protocols.holds import CreateHold, ReleaseHold

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
EventHandler = Callable[[str, Principal, Any], Awaitable[Any]]


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class SocketGateway:
    """Registers the hub's events on ``sio``; holds who is connected as whom."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        *,
        tokens: TokenIssuer,
        holds: HoldService,
        fanout: AvailabilityFanout,
        events_per_sec: float,
        burst: int,
    ) -> None:
        self._sio = sio
        self._tokens = tokens
        self._holds = holds
        self._fanout = fanout
        self._rate = events_per_sec
        self._burst = burst
        self._principals: dict[str, Principal] = {}
        self._buckets: dict[str, _Bucket] = {}

    @property
    def connected(self) -> int:
        return len(self._principals)

    def register(self) -> None:
        self._sio.on("connect", self._connect)
        self._sio.on("disconnect", self._disconnect)
        self._sio.on(
            "availability:subscribe", self._event(SubscribeAvailability, self._subscribe)
        )
        self._sio.on(
            "availability:unsubscribe", self._event(UnsubscribeAvailability, self._unsubscribe)
        )
        self._sio.on("hold:create", self._event(CreateHold, self._create_hold))
        self._sio.on("hold:release", self._event(ReleaseHold, self._release_hold))

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            token = auth.get("token") if isinstance(auth, dict) else None
            if token is None:
                raise Unauthorized("handshake auth must be {\"token\": \"<access JWT>\"}")
            principal = self._tokens.verify(token)
        except Unauthorized as exc:
            refusal = socketio.exceptions.ConnectionRefusedError(exc.message)
            # The client's connect_error data: the same {code, message, details} as any error.
            refusal.error_args = exc.to_wire()
            raise refusal from exc
        self._principals[sid] = principal
        self._buckets[sid] = _Bucket(float(self._burst), time.monotonic())

    async def _disconnect(self, sid: str, *_reason: Any) -> None:
        self._principals.pop(sid, None)
        self._buckets.pop(sid, None)
        self._fanout.disconnected(sid)

    def _event(
        self, model: type[M], handler: Callable[[str, Principal, M], Awaitable[Any]]
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def on_event(sid: str, *args: Any) -> dict[str, Any]:
            try:
                principal = self._principals.get(sid)
                if principal is None:
                    raise Unauthorized("not authenticated")
                self._take_token(sid)
                if len(args) != 1 or not isinstance(args[0], dict):
                    raise Invalid("payload must be a single JSON object")
                request = model.model_validate(args[0])
                return ok_ack(await handler(sid, principal, request))
            except Exception as exc:
                return error_ack(exc)

        return on_event

    def _take_token(self, sid: str) -> None:
        bucket = self._buckets[sid]
        now = time.monotonic()
        bucket.tokens = min(float(self._burst), bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            raise RateLimited(
                "too many events on this connection", {"retry_after_secs": 1.0 / self._rate}
            )
        bucket.tokens -= 1.0

    async def _subscribe(
        self, sid: str, principal: Principal, request: SubscribeAvailability
    ) -> dict[str, Any]:
        return await self._fanout.subscribe(sid, principal, request)

    async def _unsubscribe(
        self, sid: str, principal: Principal, request: UnsubscribeAvailability
    ) -> dict[str, Any]:
        if not await self._fanout.unsubscribe(sid, request.stream):
            raise NotFound("not subscribed to this stream", {"stream": request.stream})
        return {"stream": request.stream}

    async def _create_hold(
        self, sid: str, principal: Principal, request: CreateHold
    ) -> dict[str, Any]:
        return (await self._holds.create(principal, request)).model_dump(mode="json")

    async def _release_hold(
        self, sid: str, principal: Principal, request: ReleaseHold
    ) -> dict[str, Any]:
        return (await self._holds.release(principal, request.hold_id)).model_dump(mode="json")
