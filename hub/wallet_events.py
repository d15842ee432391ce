"""Committed wallet changes → the owners' sockets (``wallet``) and tenant admins
(``credits:low``). The wallet shards announce them with NOTIFY inside their transaction."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hub.background import cancel_and_wait
from storage.ledger import WALLET_CHANNEL
from storage.listener import Listener

log = logging.getLogger(__name__)


class WalletEvents:
    def __init__(self, dsn: str, sink: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._sink = sink
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._listener = Listener(dsn, WALLET_CHANNEL, self._queue.put_nowait, self._noop)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._listener.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wallet-events")

    async def stop(self) -> None:
        await self._listener.stop()
        await cancel_and_wait(self._task)

    async def _noop(self) -> None:
        # A missed wallet event is not lost money: clients re-read with wallet:get.
        return None

    async def _run(self) -> None:
        while True:
            raw = await self._queue.get()
            try:
                await self._sink(json.loads(raw))
            except Exception:
                log.exception("could not deliver a wallet event")
