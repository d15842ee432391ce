"""Which sessions and tenants may still act, as every hub process sees it.

Revocations and tenant suspensions are announced with NOTIFY (``storage/control.py``); every
hub keeps the answer in memory so checking a request costs nothing, and tells the socket
gateway to disconnect whoever is affected. Revoked families are remembered as long as an
access token minted from them could still be valid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from hub.background import cancel_and_wait
from protocols.errors import TenantSuspended, Unauthorized
from storage import control
from storage.listener import Listener

log = logging.getLogger(__name__)

Disconnect = Callable[[dict[str, Any]], Awaitable[None]]


class SessionControl:
    def __init__(self, *, db: asyncpg.Pool, dsn: str, access_ttl_secs: int) -> None:
        self._db = db
        self._access_ttl = access_ttl_secs
        self._revoked: dict[UUID, float] = {}  # family → when we may forget it
        self._tenant_status: dict[UUID, str] = {}
        self._listener = Listener(dsn, control.CONTROL_CHANNEL, self._on_message, self._reload)
        self._subscribers: list[Disconnect] = []
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def on_revocation(self, callback: Disconnect) -> None:
        self._subscribers.append(callback)

    async def start(self) -> None:
        await self._reload()
        await self._listener.start()
        self._task = asyncio.get_running_loop().create_task(self._notify(), name="sessions")

    async def stop(self) -> None:
        await self._listener.stop()
        await cancel_and_wait(self._task)

    def note_tenant_status(self, tenant_id: UUID, status: str) -> None:
        """This process changed a tenant's status: checks here see it at once, before the
        control message (sent in the same transaction) comes back through LISTEN."""
        self._tenant_status[tenant_id] = status

    async def check(self, principal: Principal) -> None:
        """Raises Unauthorized for a revoked session, TenantSuspended for a suspended tenant."""
        if principal.family_id is not None and principal.family_id in self._revoked:
            raise Unauthorized("session was revoked", {"reason": "session_revoked"})
        if principal.tenant_id is not None:
            status = self._tenant_status.get(principal.tenant_id)
            if status is None:
                async with self._db.acquire() as conn:
                    status = await control.tenant_status(conn, tenant_id=principal.tenant_id)
                if status is None:
                    raise Unauthorized("tenant no longer exists")
                self._tenant_status[principal.tenant_id] = status
            if status == "suspended":
                raise TenantSuspended("this tenant is suspended")

    def remember_revoked(self, family_id: UUID) -> None:
        self._revoked[family_id] = time.time() + self._access_ttl

    async def _reload(self) -> None:
        """On start and after the LISTEN connection came back: rebuild from the tables."""
        async with self._db.acquire() as conn:
            families = await control.recently_revoked_families(conn, within_secs=self._access_ttl)
        for family_id, _user in families:
            self.remember_revoked(family_id)
        self._tenant_status.clear()

    def _on_message(self, raw: str) -> None:
        try:
            message = json.loads(raw)
            kind = message["kind"]
        except (ValueError, KeyError, TypeError):
            log.error("ignoring malformed control message")
            return
        if kind == "session_revoked":
            for family in message.get("families", []):
                self.remember_revoked(UUID(family))
        elif kind == "tenant_status":
            self._tenant_status[UUID(message["tenant_id"])] = message["status"]
        self._forget_expired()
        # State above changed synchronously, so checks see it at once; the (async)
        # disconnects run in our own task.
        self._outbox.put_nowait(message)

    async def _notify(self) -> None:
        while True:
            message = await self._outbox.get()
            for callback in self._subscribers:
                try:
                    await callback(message)
                except Exception:
                    log.exception("control message handler failed")

    def _forget_expired(self) -> None:
        now = time.time()
        for family in [f for f, until in self._revoked.items() if until < now]:
            del self._revoked[family]
