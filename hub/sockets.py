"""Socket.IO contract on namespace ``/`` (documented in README.md).

Handshake ``auth: {"token": "<access JWT>"}``; a bad, revoked or suspended-tenant token refuses
the connection with ``{code, message, details}`` as the connect error's data. Every client
event declares the permission it needs (:data:`EVENT_PERMISSIONS`) and answers an ack
``{"ok": true, "data": ...}`` or ``{"ok": false, "error": {code, message, details}}``.

Live sessions are re-checked: when a token expires, its session family is revoked, or its
tenant is suspended, the server sends ``session:ended {code, message, details}`` and
disconnects the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import socketio
from pydantic import BaseModel, Field

from hub.auth import Principal, TokenIssuer
from hub.background import cancel_and_wait
from hub.errors import error_ack, ok_ack
from hub.fanout import AvailabilityFanout
from hub.guard import authorize
from hub.hold_payments import HoldPayments
from hub.holds import HoldService
from hub.limits import SocketLimits
from hub.logs import socket_event_context
from hub.requests import client_ip
from hub.sessions import SessionControl
from hub.wallets import WalletService, wallet_view
from protocols.availability import SubscribeAvailability, UnsubscribeAvailability, stream_name
from protocols.errors import (
    Forbidden,
    Invalid,
    LimitExceeded,
    NotFound,
    SevaError,
    TenantSuspended,
    Unauthorized,
)
from protocols.holds import CreateHold, PayHold, ReleaseHold
from protocols.permissions import Perm, Role
from protocols.wallets import GetWallet
from protocols.wire import WireModel

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
SESSION_ENDED = "session:ended"


def user_room(user_id: UUID) -> str:
    """Every socket of a user is in this room (on every hub, when rooms are shared)."""
    return f"user:{user_id}"


def tenant_room(tenant_id: UUID) -> str:
    """Every socket of a tenant's users (e.g. told when a public darshan stream goes live)."""
    return f"tenant:{tenant_id}"


class RenewSession(WireModel):
    """``session:renew``: swap in a fresh access token without reconnecting."""

    token: str = Field(min_length=1, max_length=8192)


EVENT_PERMISSIONS: dict[str, Perm] = {
    "availability:subscribe": Perm.AVAILABILITY_READ,
    "availability:unsubscribe": Perm.AVAILABILITY_READ,
    "hold:create": Perm.BOOKINGS_CREATE,
    "hold:release": Perm.BOOKINGS_CREATE,
    "hold:pay": Perm.BOOKINGS_CREATE,
    "session:renew": Perm.AUTHENTICATED,
    "wallet:get": Perm.WALLET_READ_OWN,
    # hub/live_events.py
    "user:sync": Perm.AUTHENTICATED,
    "notifications:list": Perm.AUTHENTICATED,
    "notifications:read": Perm.AUTHENTICATED,
    "live:status": Perm.LIVE_PUSH,
    "live:subscribe": Perm.AUTHENTICATED,
    "live:unsubscribe": Perm.AUTHENTICATED,
    "stream:start": Perm.LIVE_PUSH,
    "stream:stop": Perm.LIVE_PUSH,
    "stream:join": Perm.AUTHENTICATED,
    "stream:leave": Perm.AUTHENTICATED,
    "presence:get": Perm.AUTHENTICATED,
    # hub/padel.py
    "venue:subscribe": Perm.AVAILABILITY_READ,
    "court:status": Perm.LIVE_PUSH,
    # hub/library_events.py
    "occupancy:subscribe": Perm.AVAILABILITY_READ,
    "occupancy:unsubscribe": Perm.AVAILABILITY_READ,
    # hub/panchang.py
    "panchang:subscribe": Perm.AUTHENTICATED,
    "panchang:unsubscribe": Perm.AUTHENTICATED,
}
"""Every client → server event and the permission it needs; a test proves it is complete."""


class SocketGateway:
    """Registers the hub's events on ``sio``; knows who is connected as whom."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        *,
        tokens: TokenIssuer,
        sessions: SessionControl,
        holds: HoldService,
        wallets: WalletService,
        hold_payments: HoldPayments,
        fanout: AvailabilityFanout,
        limits: SocketLimits,
        check_every_secs: float,
        observe_event: Callable[[str, str], None] | None = None,
    ) -> None:
        """``observe_event(event, outcome)`` (optional) is told every client event's outcome:
        ``ok`` or the error code of its error ack."""
        self._sio = sio
        self._observe_event = observe_event
        self._tokens = tokens
        self._sessions = sessions
        self._holds = holds
        self._wallets = wallets
        self._hold_payments = hold_payments
        self._fanout = fanout
        self._limits = limits
        self._check_every = check_every_secs
        self._principals: dict[str, Principal] = {}
        self._by_user: defaultdict[UUID, set[str]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._disconnect_hooks: list[Callable[[str], None]] = []
        self._connect_hooks: list[Callable[[str, Principal], None]] = []
        self._event_models: dict[str, type[BaseModel]] = {}

    @property
    def client_events(self) -> dict[str, type[BaseModel]]:
        """Every client event registered so far and the model its payload must fit (read by
        the AsyncAPI document and its completeness test)."""
        return dict(self._event_models)

    @property
    def connected(self) -> int:
        return len(self._principals)

    def sids(self) -> list[str]:
        """The authenticated sockets connected to this hub now."""
        return list(self._principals)

    def register(self) -> None:
        self._sio.on("connect", self._connect)
        self._sio.on("disconnect", self._disconnect)
        handlers: dict[str, tuple[type[BaseModel], Callable[..., Awaitable[Any]]]] = {
            "availability:subscribe": (SubscribeAvailability, self._subscribe),
            "availability:unsubscribe": (UnsubscribeAvailability, self._unsubscribe),
            "hold:create": (CreateHold, self._create_hold),
            "hold:release": (ReleaseHold, self._release_hold),
            "hold:pay": (PayHold, self._pay_hold),
            "session:renew": (RenewSession, self._renew),
            "wallet:get": (GetWallet, self._wallet_get),
        }
        for event, (model, handler) in handlers.items():
            self._sio.on(event, self._event(event, model, handler))
        self._sessions.on_revocation(self._on_control)

    def handle(
        self,
        event: str,
        model: type[M],
        handler: Callable[[str, Principal, M], Awaitable[Any]],
    ) -> None:
        """Register a client event served elsewhere, behind the same checks as every event
        (authenticated, rate limited, permission of :data:`EVENT_PERMISSIONS`, validated)."""
        self._sio.on(event, self._event(event, model, handler))

    def on_connect(self, hook: Callable[[str, Principal], None]) -> None:
        """``hook(sid, principal)`` runs when a socket was admitted."""
        self._connect_hooks.append(hook)

    def on_disconnect(self, hook: Callable[[str], None]) -> None:
        """``hook(sid)`` runs when a socket goes away (after the gateway forgot it)."""
        self._disconnect_hooks.append(hook)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._expire(), name="socket-expiry")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    # -- connection lifecycle ------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            # Counted before the token is checked, so a flood of bad handshakes from one
            # address is refused as cheaply as possible; released below if refused.
            self._limits.connections.admit(sid, client_ip(environ["aiohttp.request"]))
            try:
                token = auth.get("token") if isinstance(auth, dict) else None
                if token is None:
                    raise Unauthorized('handshake auth must be {"token": "<access JWT>"}')
                principal = self._tokens.verify(token)
                await self._sessions.check(principal)
            except BaseException:
                self._limits.connections.release(sid)
                raise
        except (Unauthorized, TenantSuspended, LimitExceeded) as exc:
            refusal = socketio.exceptions.ConnectionRefusedError(exc.message)
            # The client's connect_error data: the same {code, message, details} as any error.
            refusal.error_args = exc.to_wire()
            raise refusal from exc
        self._principals[sid] = principal
        self._by_user[principal.user_id].add(sid)
        self._limits.events.opened(sid, principal.user_id)
        await self._sio.enter_room(sid, user_room(principal.user_id))
        if principal.tenant_id is not None:
            await self._sio.enter_room(sid, tenant_room(principal.tenant_id))
        for hook in self._connect_hooks:
            hook(sid, principal)

    async def _disconnect(self, sid: str, *_reason: Any) -> None:
        principal = self._principals.pop(sid, None)
        if principal is not None:
            sids = self._by_user.get(principal.user_id)
            if sids is not None:
                sids.discard(sid)
                if not sids:
                    del self._by_user[principal.user_id]
            self._limits.events.closed(sid, principal.user_id)
        self._limits.connections.release(sid)
        self._limits.subscriptions.forget(sid)
        self._fanout.disconnected(sid)
        for hook in self._disconnect_hooks:
            hook(sid)

    async def _end(self, sid: str, error: SevaError) -> None:
        """Tell the client why, then drop it."""
        with contextlib.suppress(Exception):
            await self._sio.emit(SESSION_ENDED, error.to_wire(), to=sid)
        await self._sio.disconnect(sid)

    async def _on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        doomed: list[tuple[str, SevaError]] = []
        if kind == "session_revoked":
            families = {UUID(f) for f in message.get("families", [])}
            user_id = UUID(message["user_id"])
            error: SevaError = Unauthorized(
                "this session was revoked", {"reason": message.get("reason")}
            )
            for sid in list(self._by_user.get(user_id, ())):
                principal = self._principals.get(sid)
                if principal and (message.get("all_sockets") or principal.family_id in families):
                    doomed.append((sid, error))
        elif kind == "tenant_status" and message.get("status") == "suspended":
            tenant_id = UUID(message["tenant_id"])
            error = TenantSuspended("this tenant is suspended")
            doomed = [(s, error) for s, p in self._principals.items() if p.tenant_id == tenant_id]
        for sid, err in doomed:
            await self._end(sid, err)

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(self._check_every)
            now = time.time()
            expired = [s for s, p in self._principals.items() if p.expires_at <= now]
            for sid in expired:
                await self._end(
                    sid, Unauthorized("access token expired", {"reason": "token_expired"})
                )

    # -- events --------------------------------------------------------------------------------

    def _event(
        self,
        event: str,
        model: type[M],
        handler: Callable[[str, Principal, M], Awaitable[Any]],
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        perm = EVENT_PERMISSIONS[event]
        self._event_models[event] = model

        async def on_event(sid: str, *args: Any) -> dict[str, Any]:
            with socket_event_context(sid, self._principals.get(sid), event):
                ack = await answer(sid, *args)
                error = ack.get("error")
                outcome = error["code"] if isinstance(error, dict) else "ok"
                log.debug("client event %s: %s", event, outcome)
            if self._observe_event is not None:
                self._observe_event(event, outcome)
            return ack

        async def answer(sid: str, *args: Any) -> dict[str, Any]:
            try:
                principal = self._principals.get(sid)
                if principal is None:
                    raise Unauthorized("not authenticated")
                self._limits.events.take(sid, principal.user_id)
                await authorize(self._sessions, principal, perm)
                if len(args) != 1 or not isinstance(args[0], dict):
                    raise Invalid("payload must be a single JSON object")
                request = model.model_validate(args[0])
                if not isinstance(request, SubscribeAvailability):
                    data = await handler(sid, principal, request)
                    if isinstance(request, UnsubscribeAvailability):
                        self._limits.subscriptions.release(sid, request.stream)
                    return ok_ack(data)
                # Checked here, before the fan-out joins the stream (and sends a replay).
                stream = stream_name(request.tenant_id, request.resource_id, request.day)
                counted = self._limits.subscriptions.reserve(sid, stream)
                try:
                    return ok_ack(await handler(sid, principal, request))
                except BaseException:
                    if counted:
                        self._limits.subscriptions.release(sid, stream)
                    raise
            except Exception as exc:
                return error_ack(exc)

        return on_event

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

    async def _pay_hold(self, sid: str, principal: Principal, request: PayHold) -> dict[str, Any]:
        return await self._hold_payments.pay_from_wallet(principal, request.hold_id)

    async def _wallet_get(
        self, sid: str, principal: Principal, request: GetWallet
    ) -> dict[str, Any]:
        if request.wallet_id is None:
            views = await self._wallets.my_wallets(principal)
        else:
            views = [wallet_view(await self._wallets.wallet(principal, request.wallet_id))]
        return {"wallets": [v.model_dump(mode="json") for v in views]}

    async def push_wallet_event(self, message: dict[str, Any]) -> None:
        """``wallet`` to the owner's sockets (tenant wallets: the tenant's admins), and
        ``credits:low`` to the tenant's admins."""
        owner = message.get("owner_user_id")
        tenant = message.get("tenant_id")
        if message.get("kind") == "wallet" and owner:
            targets = list(self._by_user.get(UUID(owner), ()))
        elif tenant:
            tenant_id = UUID(tenant)
            targets = [
                sid
                for sid, p in self._principals.items()
                if p.tenant_id == tenant_id and p.role == Role.TENANT_ADMIN
            ]
        else:
            return
        event = "credits:low" if message.get("kind") == "credits_low" else "wallet"
        payload = {k: v for k, v in message.items() if k != "kind"}
        for sid in targets:
            await self._sio.emit(event, payload, to=sid)

    async def _renew(self, sid: str, principal: Principal, request: RenewSession) -> dict[str, Any]:
        fresh = self._tokens.verify(request.token)
        if fresh.user_id != principal.user_id:
            raise Forbidden("a socket cannot change its user; reconnect instead")
        await self._sessions.check(fresh)
        self._principals[sid] = fresh
        return {"expires_at": fresh.expires_at}
