"""The hub's side of the shards: a bounded pool of Ray actors and a batcher per shard.

``ShardPool.submit(command)`` routes the command to its shard (stable hash of its route key:
the tenant for inventory, the wallet for the ledger) and waits
for the shard's committed answer. Commands for one shard that arrive while a call is in flight
are gathered and sent as **one** call (one Ray hop, one PostgreSQL transaction): under load,
batches grow by themselves; when idle, a lone command goes at once.

If a shard process dies, Ray restarts it (``max_restarts=-1``) and the batch is sent again.
That is safe because every command is idempotent (see :mod:`actors.commands`). After
``retry_window_secs`` without success the callers get :class:`Unavailable` (retryable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, overload
from uuid import UUID

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from actors.commands import (
    HoldCommand,
    InventoryCommand,
    RefreshTenantCommand,
    RescheduleBookingCommand,
    SetSlotCapacityCommand,
    SlotCapacitySet,
    TenantRefreshed,
)
from actors.placement import shard_for
from actors.shard import InventoryShard
from protocols.errors import Internal, SevaError, Unavailable
from protocols.log_lines import current_log_context
from storage.records import HoldState, Reschedule

log = logging.getLogger(__name__)

HEARTBEAT_SECS = 1.0

CallObserver = Callable[[str, float, int | None], None]
"""``(operation, seconds, None)`` when a command got its answer (or error): the command's class
name and the seconds since :meth:`ShardPool.submit`; ``("", 0.0, size)`` per batch sent."""


class ShardPool:
    def __init__(
        self,
        *,
        dsn: str,
        shard_count: int,
        namespace: str,
        name_prefix: str = "seva-inventory",
        actor_cls: type = InventoryShard,
        route: Callable[[Any], UUID] = lambda command: command.tenant_id,
        max_batch: int = 512,
        detached: bool = False,
        call_timeout_secs: float = 30.0,
        retry_window_secs: float = 30.0,
        db_pool_size: int = 4,
        observer: CallObserver | None = None,
        resource: str | None = None,
    ) -> None:
        """``observer`` (optional) is told every answer's latency and every batch's size; it
        must be cheap and must not raise. ``resource`` (optional) is a Ray custom resource the
        actors ask a sliver of, so they are placed only on nodes that advertise it."""
        if shard_count < 1:
            raise ValueError("shard_count must be at least 1")
        self.shard_count = shard_count
        self._dsn = dsn
        self._namespace = namespace
        self._name_prefix = name_prefix
        self._actor_cls = actor_cls
        self._route = route
        self._max_batch = max_batch
        self._detached = detached
        self._call_timeout = call_timeout_secs
        self._retry_window = retry_window_secs
        self._db_pool_size = db_pool_size
        self._handles: list[Any] = []
        self._queues: list[asyncio.Queue[tuple[Any, asyncio.Future[Any], dict[str, Any]]]] = []
        self._observer = observer
        self._resource = resource
        self._tasks: list[asyncio.Task[None]] = []
        self.batch_sizes: list[int] = []  # recent batch sizes, for benchmarks and metrics

    def actor_name(self, index: int) -> str:
        return f"{self._name_prefix}-{index}"

    def handle(self, index: int) -> Any:
        return self._handles[index]

    def actor_options(self, index: int) -> dict[str, Any]:
        """Ray options of shard ``index``'s actor."""
        options: dict[str, Any] = {
            "name": self.actor_name(index),
            "namespace": self._namespace,
            "get_if_exists": True,
            "max_restarts": -1,
            # We retry ourselves: only we know the commands are idempotent.
            "max_task_retries": 0,
            "max_concurrency": 64,
            # No CPU: shards wait on PostgreSQL, and a CPU each would cap them at the node's
            # cores. Without a resource to ask for, Ray may place them on any node, a hub's too.
            "num_cpus": 0,
        }
        if self._resource is not None:
            # A sliver, so one node advertising 1 (or 1000) hosts every shard.
            options["resources"] = {self._resource: 0.001}
        if self._detached:
            options["lifetime"] = "detached"
        return options

    async def start(self) -> None:
        """Create (or attach to) the shard actors and start the batchers and the heartbeat."""
        remote_cls: Any = ray.remote(self._actor_cls)
        for index in range(self.shard_count):
            handle = remote_cls.options(**self.actor_options(index)).remote(
                shard_index=index,
                shard_count=self.shard_count,
                dsn=self._dsn,
                pool_size=self._db_pool_size,
            )
            self._handles.append(handle)
            self._queues.append(asyncio.Queue())
        loop = asyncio.get_running_loop()
        for index in range(self.shard_count):
            self._tasks.append(loop.create_task(self._pump(index), name=f"shard-pump-{index}"))
        self._tasks.append(loop.create_task(self._heartbeat(), name="shard-heartbeat"))
        await asyncio.gather(*(self._call(h.tick.remote()) for h in self._handles))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for queue in self._queues:
            while not queue.empty():
                _, fut, _ = queue.get_nowait()
                if not fut.done():
                    fut.set_exception(Unavailable("hub is shutting down"))
        if not self._detached:
            for handle in self._handles:
                with contextlib.suppress(Exception):
                    ray.kill(handle, no_restart=True)
        self._handles.clear()
        self._queues.clear()

    @overload
    async def execute(self, command: HoldCommand) -> HoldState: ...

    @overload
    async def execute(self, command: RescheduleBookingCommand) -> Reschedule: ...

    @overload
    async def execute(self, command: SetSlotCapacityCommand) -> SlotCapacitySet: ...

    @overload
    async def execute(self, command: RefreshTenantCommand) -> TenantRefreshed: ...

    async def execute(
        self, command: InventoryCommand
    ) -> HoldState | Reschedule | SlotCapacitySet | TenantRefreshed:
        """Run one command on its tenant's logical actor; raises the SevaError it got."""
        return await self.submit(command)

    async def submit(self, command: Any) -> Any:
        """Any command of this pool's actor class; raises the SevaError it got.

        The caller's log context (request id, tenant, ...) travels with the command: the shard
        logs under it while it applies the batch."""
        index = shard_for(self._route(command), self.shard_count)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queues[index].put_nowait((command, fut, current_log_context()))
        if self._observer is None:
            return await fut
        started = time.perf_counter()
        try:
            return await fut
        finally:
            self._observer(type(command).__name__, time.perf_counter() - started, None)

    async def ping(self) -> float:
        """Seconds for one round trip to every shard (raises Unavailable if one is down)."""
        started = time.perf_counter()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(self._call(h.tick.remote()) for h in self._handles)), 5.0
            )
        except (TimeoutError, RayActorError, GetTimeoutError) as exc:
            raise Unavailable("shards are not answering") from exc
        return time.perf_counter() - started

    # -- internals -----------------------------------------------------------------------------

    async def _pump(self, index: int) -> None:
        queue = self._queues[index]
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            live = [(cmd, fut, ctx) for cmd, fut, ctx in batch if not fut.done()]
            if not live:
                continue
            self.batch_sizes.append(len(live))
            if len(self.batch_sizes) > 10_000:
                del self.batch_sizes[:5_000]
            if self._observer is not None:
                self._observer("", 0.0, len(live))
            try:
                results = await self._apply_with_retry(
                    index, [cmd for cmd, _, _ in live], [ctx for _, _, ctx in live]
                )
            except SevaError as exc:
                results = [exc] * len(live)
            for (_, fut, _), result in zip(live, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, SevaError):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    async def _apply_with_retry(
        self, index: int, commands: list[Any], contexts: list[dict[str, Any]]
    ) -> list[Any]:
        deadline = time.monotonic() + self._retry_window
        delay = 0.05
        while True:
            try:
                return await asyncio.wait_for(
                    self._call(self._handles[index].apply.remote(commands, contexts)),
                    self._call_timeout,
                )
            except (RayActorError, TimeoutError) as exc:
                # The shard died or is restarting; it reloads from PostgreSQL, and resending is
                # safe because every command is idempotent.
                if time.monotonic() + delay > deadline:
                    raise Unavailable("a shard is restarting; retry") from exc
                log.warning("shard %d unavailable (%s); retrying batch", index, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _call(self, ref: Any) -> Any:
        try:
            return await ref
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, SevaError):
                raise cause from None
            if isinstance(cause, RayActorError):
                raise cause from None
            log.error("shard call failed: %s", exc)
            raise Internal("unexpected error in a shard") from exc

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECS)
            for index, handle in enumerate(self._handles):
                try:
                    await asyncio.wait_for(self._call(handle.tick.remote()), 5.0)
                except Exception as exc:
                    log.debug("heartbeat to shard %d failed: %r", index, exc)
