"""What every shard actor shares, whatever logical actors it hosts (tenants, wallets).

A shard handles one batch at a time (an asyncio lock: async Ray actors do not keep call
order), starts lazily on its first call (Ray restarts it with the same arguments, so the first
call after a crash rebuilds it from PostgreSQL), and runs one timer that fires at the
subclass's next deadline (hold expiry, pending-transfer timeout). Subclasses implement the
hooks: ``_on_start``, ``_apply_locked``, ``_evict_idle``, ``_next_deadline``, ``_on_timer`` and
``_state_stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import ray

from protocols.errors import Unavailable
from protocols.log_lines import json_handler, log_context

log = logging.getLogger(__name__)

TIMER_MAX_SECS = 1.0
# Errors after which the database may be fine again soon: the caller may retry.
TRANSIENT_DB_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


class ShardHost:
    def __init__(
        self,
        *,
        shard_index: int,
        shard_count: int,
        dsn: str,
        pool_size: int = 4,
        idle_evict_secs: float = 300.0,
    ) -> None:
        self._index = shard_index
        self._count = shard_count
        self._dsn = dsn
        self._pool_size = pool_size
        self._idle_evict_secs = idle_evict_secs
        self._pool: asyncpg.Pool | None = None
        self._lock: asyncio.Lock | None = None
        self._start_lock: asyncio.Lock | None = None
        self._timer: asyncio.Task[None] | None = None
        self._batches = 0
        self._commands = 0

    # -- public (Ray) methods ------------------------------------------------------------------

    async def apply(
        self, commands: list[Any], contexts: list[dict[str, Any]] | None = None
    ) -> list[Any]:
        """Apply commands in order; one result per command (a value, or the error it got).

        ``contexts``: the callers' log contexts, one per command (``ShardPool`` sends them).
        While the batch is applied the shard logs under ``request_ids`` (all of the batch's),
        plus ``request_id``/``tenant_id``/``user_id`` when every command shares them."""
        await self._ensure_started()
        assert self._lock is not None
        with log_context(**_batch_context(contexts or [])):
            return await self._apply_in_context(commands)

    async def _apply_in_context(self, commands: list[Any]) -> list[Any]:
        assert self._lock is not None
        async with self._lock:
            self._batches += 1
            self._commands += len(commands)
            log.debug(
                "%s %d: applying %d command(s)", type(self).__name__, self._index, len(commands)
            )
            return await self._apply_locked(commands)

    async def tick(self) -> dict[str, Any]:
        """Heartbeat from the hub: starts a freshly restarted shard, evicts idle state."""
        await self._ensure_started()
        assert self._lock is not None
        async with self._lock:
            self._evict_idle()
        return self.stats()

    def stats(self) -> dict[str, Any]:
        return {
            "shard": self._index,
            "batches": self._batches,
            "commands": self._commands,
            **self._state_stats(),
        }

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        if self._pool is not None:
            await self._pool.close()

    # -- hooks -----------------------------------------------------------------------------------

    async def _on_start(self, conn: asyncpg.Connection) -> None:
        """Load what the timer must know about before anyone calls (live holds, pendings)."""

    async def _apply_locked(self, commands: list[Any]) -> list[Any]:
        raise NotImplementedError

    def _evict_idle(self) -> None:
        """Drop state nobody used for ``idle_evict_secs`` and no timer needs."""

    def _next_deadline(self) -> datetime | None:
        return None

    async def _on_timer(self) -> None:
        """Called under the lock when a deadline may have passed."""

    def _state_stats(self) -> dict[str, Any]:
        return {}

    # -- machinery -------------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._timer is not None:
            return
        _install_worker_logging()
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
            self._lock = asyncio.Lock()
        async with self._start_lock:
            if self._timer is not None:
                return
            try:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._pool_size
                    )
                async with self._pool.acquire() as conn:
                    await self._on_start(conn)
            except TRANSIENT_DB_ERRORS as exc:
                raise Unavailable("the store behind this shard is not reachable") from exc
            self._timer = asyncio.get_running_loop().create_task(self._run_timer())

    async def _run_timer(self) -> None:
        assert self._lock is not None
        while True:
            delay = TIMER_MAX_SECS
            deadline = self._next_deadline()
            if deadline is not None:
                until = (deadline - datetime.now(UTC)).total_seconds()
                delay = min(max(until, 0.01), TIMER_MAX_SECS)
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    await self._on_timer()
            except Exception:
                # Keep the timer alive whatever happened; the next round retries from the DB.
                log.exception("%s %d: timer round failed", type(self).__name__, self._index)


def _batch_context(contexts: list[dict[str, Any]]) -> dict[str, Any]:
    ids = list(dict.fromkeys(c["request_id"] for c in contexts if c.get("request_id")))
    fields: dict[str, Any] = {"request_ids": ",".join(ids)} if ids else {}
    for name in ("request_id", "tenant_id", "user_id", "socket_id"):
        values = {c.get(name) for c in contexts}
        if len(values) == 1 and None not in values:
            fields[name] = values.pop()
    return fields


_worker_logging_installed = False


def _install_worker_logging() -> None:
    """In a Ray actor process, the ``actors`` loggers write masked JSON lines (with the bound
    request context) to the worker's stderr, which Ray keeps in its worker log files. Not in
    the driver: a shard built in-process (tests) logs through the host's own handlers."""
    global _worker_logging_installed
    if _worker_logging_installed or not ray.is_initialized():
        return
    if ray.get_runtime_context().get_actor_id() is None:
        return
    logger = logging.getLogger("actors")
    logger.addHandler(json_handler())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    _worker_logging_installed = True
