"""A LISTEN connection that survives the database going away.

PostgreSQL delivers NOTIFY payloads only after the notifying transaction commits, in commit
order. If the connection drops, notifications sent meanwhile are lost: ``on_reconnect`` runs
after every reconnect so the owner can catch up from the tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)


class Listener:
    def __init__(
        self,
        dsn: str,
        channel: str,
        on_payload: Callable[[str], None],
        on_reconnect: Callable[[], Awaitable[None]],
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._on_payload = on_payload
        self._on_reconnect = on_reconnect
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        await conn.add_listener(self._channel, self._deliver)
        conn.add_termination_listener(lambda _c: self._lost.set())
        self._conn = conn
        self._lost.clear()

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._on_payload(str(payload))

    async def _watch(self) -> None:
        while True:
            await self._lost.wait()
            delay = 0.1
            while True:
                try:
                    await self._connect()
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("LISTEN %s: reconnect failed: %r", self._channel, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
            await self._on_reconnect()
