"""The outbox relay: committed feed events → Socket.IO rooms, in commit order, after commit.

Every hub runs one, but a round only proceeds under a transaction-scoped advisory lock, so at
most one hub relays at a time and each stream's events leave in seq order. A round turns
pending domain events into inbox notifications (``storage.notifications.dispatch_pending``),
emits every unpublished feed event to its room and marks it published, all in one transaction:
a hub killed mid-round leaves the rows unpublished and the next round (on any hub) emits them
again — at least once, and clients drop a seq they already have.

With a Redis client manager the emit reaches every hub; while the manager reports itself
unhealthy the relay waits and the events wait in PostgreSQL (the bounded buffer is the table).
The relay also prunes feed and availability events older than the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection

import asyncpg
import socketio

from hub.background import TRANSIENT, cancel_and_wait
from storage import availability, feeds, notifications
from storage.listener import Listener

log = logging.getLogger(__name__)

RELAY_LOCK = 0x5EFA_FEED  # pg advisory lock key: one relay at a time across hubs


class FeedRelay:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        dsn: str,
        sio: socketio.AsyncServer,
        batch: int = 500,
        poll_secs: float = 1.0,
        retention_secs: float,
        prune_every_secs: float,
        channels: Collection[str] = (),
    ) -> None:
        """``channels``: the external channels (email, sms, whatsapp) this hub can send on;
        each notification gets a delivery per channel its user wants among them."""
        self._db = db
        self._sio = sio
        self._batch = batch
        self._poll = poll_secs
        self._retention = retention_secs
        self._prune_every = prune_every_secs
        self._channels = tuple(channels)
        self._wake = asyncio.Event()
        self._listener = Listener(dsn, feeds.FEED_CHANNEL, self._on_notify, self._on_reconnect)
        self._task: asyncio.Task[None] | None = None
        self._last_prune = time.monotonic()
        self.published = 0

    async def start(self) -> None:
        await self._listener.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="feed-relay")
        self._wake.set()  # whatever a previous process left unpublished

    async def stop(self) -> None:
        await self._listener.stop()
        await cancel_and_wait(self._task)

    def _on_notify(self, _payload: str) -> None:
        self._wake.set()

    async def _on_reconnect(self) -> None:
        self._wake.set()

    def _fanout_healthy(self) -> bool:
        return bool(getattr(self._sio.manager, "healthy", True))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
            try:
                while self._fanout_healthy() and await self.relay_once() >= self._batch:
                    pass
                if time.monotonic() - self._last_prune >= self._prune_every:
                    await self.prune()
            except TRANSIENT as exc:
                log.warning("feed relay round failed, retrying: %r", exc)
                await asyncio.sleep(self._poll)

    async def relay_once(self) -> int:
        """One round; returns how many events it published (0 if another hub holds the lock)."""
        async with self._db.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
                return 0
            await notifications.dispatch_pending(conn, limit=self._batch, channels=self._channels)
            events = await feeds.claim_unpublished(conn, limit=self._batch)
            for event in events:
                await self._sio.emit(event.event, event.payload, room=event.room)
            if events:
                await feeds.mark_published(conn, ids=[e.id for e in events])
        self.published += len(events)
        return len(events)

    async def prune(self) -> None:
        self._last_prune = time.monotonic()
        async with self._db.acquire() as conn:
            gone = await feeds.prune(conn, older_than_secs=self._retention)
            gone += await availability.prune_events(conn, older_than_secs=self._retention)
        if gone:
            log.info("pruned %d stream events older than %.0f s", gone, self._retention)
