"""Presence: who is online, across hubs, without a write per connect.

Each hub counts its own sockets per user and reports the users whose count changed at most
once per tick (and all of its users every ``refresh_secs``, so a killed hub's rows go stale
after ``stale_secs``). ``presence:get`` answers from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from hub.background import TRANSIENT, cancel_and_wait, run_every
from protocols.errors import NotFound
from protocols.live import GetPresence
from storage import presence

log = logging.getLogger(__name__)


class Presence:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        tick_secs: float = 2.0,
        refresh_secs: float = 30.0,
        stale_secs: float = 90.0,
    ) -> None:
        self._db = db
        self._tick = tick_secs
        self._refresh = refresh_secs
        self._stale = stale_secs
        self.hub_id = uuid.uuid4()
        self._who: dict[str, tuple[UUID, UUID | None]] = {}
        self._sockets: dict[UUID, int] = {}
        self._tenant: dict[UUID, UUID | None] = {}
        self._dirty: set[UUID] = set()
        self._last_refresh = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            run_every(self._tick, self.report, "reporting presence"), name="presence"
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        # Leave no rows claiming our users are online.
        with contextlib.suppress(*TRANSIENT):
            await self._report({u: (self._tenant.get(u), 0) for u in self._sockets})

    def connected(self, sid: str, principal: Principal) -> None:
        self._who[sid] = (principal.user_id, principal.tenant_id)
        self._sockets[principal.user_id] = self._sockets.get(principal.user_id, 0) + 1
        self._tenant[principal.user_id] = principal.tenant_id
        self._dirty.add(principal.user_id)

    def disconnected(self, sid: str) -> None:
        who = self._who.pop(sid, None)
        if who is None:
            return
        user_id = who[0]
        self._sockets[user_id] -= 1
        self._dirty.add(user_id)

    async def get(self, principal: Principal, request: GetPresence) -> dict[str, Any]:
        if principal.tenant_id is None:
            raise NotFound("presence is per tenant", {})
        async with self._db.acquire() as conn:
            seen = await presence.lookup(
                conn,
                tenant_id=principal.tenant_id,
                user_ids=request.user_ids,
                fresh_secs=self._stale,
            )
        return {
            "users": [
                {
                    "user_id": str(s.user_id),
                    "online": s.online,
                    "last_seen_at": s.last_seen_at.isoformat() if s.last_seen_at else None,
                }
                for s in seen
            ]
        }

    async def report(self) -> None:
        now = time.monotonic()
        users = set(self._dirty)
        if now - self._last_refresh >= self._refresh:
            users |= set(self._sockets)
            self._last_refresh = now
        self._dirty.clear()
        await self._report({u: (self._tenant.get(u), self._sockets.get(u, 0)) for u in users})
        for user_id in users:
            if self._sockets.get(user_id) == 0:
                self._sockets.pop(user_id, None)
                self._tenant.pop(user_id, None)

    async def _report(self, counts: dict[UUID, tuple[UUID | None, int]]) -> None:
        if counts:
            async with self._db.acquire() as conn:
                await presence.report(conn, hub_id=self.hub_id, counts=counts)
