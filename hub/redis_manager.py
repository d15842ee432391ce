"""Socket.IO rooms shared by every hub process through Redis, and surviving a Redis outage.

With ``REDIS_URL`` set, each hub's ``AsyncServer`` uses :class:`RedisFanoutManager`: an emit to
a room reaches that room's sockets on this hub at once and on the other hubs through a Redis
pub/sub channel. Emitters outside a server (actors, relay processes) use
:func:`write_only_manager`. What flows where (README "Scaling out"):

- availability deltas do **not** use Redis: every hub LISTENs to PostgreSQL itself and emits
  them to its own sockets only (``ignore_queue=True``);
- user rooms (``user:<id>``), booking live-status rooms and stream rooms are emitted once, by the
  hub that produced the event, and reach the other hubs through Redis;
- an emit to one socket id that is connected here stays here (no Redis round trip).

Redis being down never blocks or fails a caller:

- ``emit`` delivers locally, then puts the message in a bounded buffer
  (``SEVA_REDIS_BUFFER_MAX``) and returns. One drain task publishes the buffer in order,
  retrying with exponential backoff (capped at ``SEVA_REDIS_RETRY_MAX_SECS``). When the buffer is
  full the oldest message is dropped and counted; once Redis is back the other hubs are told
  (``feed:resync {reason: "fanout_overflow"}`` to all their sockets). Delivery is at least once:
  a publish whose reply was lost is sent again, so clients drop duplicates by their ``seq``/id.
- the listener reconnects by itself (backoff reset after every successful subscribe, TCP
  keepalive, a PING every ``SEVA_REDIS_HEALTH_CHECK_SECS``). After re-subscribing following a
  failure, room events sent meanwhile by other hubs are lost to this hub's sockets, so it emits
  ``feed:resync {reason: "fanout_reconnected"}`` to every local socket: clients re-sync their
  streams with ``since``.
- :attr:`RedisFanoutManager.healthy` says whether Redis is reachable now (publishing works and,
  for a server, the listener is subscribed); :meth:`~RedisFanoutManager.wait_until_healthy`
  waits for it. An outbox relay pauses claiming while it is False, so its rows stay in
  PostgreSQL instead of in this process's buffer.

python-socketio's own ``AsyncRedisManager`` publishes inline (a caller waits on a dead Redis),
gives up after one retry and drops the message, shares one client between the publisher and the
listener (a publish reconnect replaces the listener's pub/sub object), leaks a client on every
reconnect, backs off up to 60 s, and uses redis-py's default pool, which raises
``MaxConnectionsError`` instead of waiting. This subclass replaces those parts.

Errors: none escape to callers. Redis errors (``redis.exceptions.RedisError``, ``OSError``) are
logged once per transition and reflected in :attr:`~RedisFanoutManager.healthy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web
from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub.settings import Settings

log = logging.getLogger(__name__)

FEED_RESYNC = "feed:resync"
"""Server → client: ``{reason}``; re-subscribe your streams with ``since`` (README)."""
RESYNC_RECONNECTED = "fanout_reconnected"
RESYNC_OVERFLOW = "fanout_overflow"

RETRY_MIN_SECS = 0.1
PUBLISH_BATCH = 256
CONNECT_TIMEOUT_SECS = 2.0
COMMAND_TIMEOUT_SECS = 5.0
POOL_WAIT_SECS = 5.0
LISTEN_POLL_SECS = 1.0
CLOSE_FLUSH_SECS = 1.0
_REDIS_ERRORS = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True)
class RedisFanoutOptions:
    """How to reach Redis and how patient to be with it; every hub must use the same
    ``channel``."""

    url: str
    channel: str = "seva-socketio"
    buffer_max: int = 10_000
    retry_max_secs: float = 5.0
    health_check_secs: float = 5.0
    max_connections: int = 16

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisFanoutOptions | None:
        """None when ``REDIS_URL`` is unset (one hub process: no shared rooms needed)."""
        if settings.redis_url is None:
            return None
        return cls(
            url=settings.redis_url.get_secret_value(),
            channel=settings.redis_channel,
            buffer_max=settings.redis_buffer_max,
            retry_max_secs=settings.redis_retry_max_secs,
            health_check_secs=settings.redis_health_check_secs,
            max_connections=settings.redis_max_connections,
        )


def _keepalive_options() -> dict[int, int]:
    """Notice a silently dead peer in ~25 s instead of the kernel's two hours."""
    options: dict[int, int] = {}
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            options[getattr(socket, name)] = value
    return options


class RedisFanoutManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """``AsyncRedisManager`` that never blocks its callers on Redis (module docstring).

    Lifecycle: :meth:`start` (a server's manager also starts listening), :meth:`aclose`. A
    write-only manager that was not started starts its drain task on the first emit.
    """

    name = "seva-redis"

    def __init__(self, options: RedisFanoutOptions, *, write_only: bool = False) -> None:
        super().__init__(
            url=options.url, channel=options.channel, write_only=write_only, logger=log
        )
        self._options = options
        self._buffer: deque[tuple[int, str]] = deque()
        self._numbers = itertools.count(1)
        self._wake = asyncio.Event()
        self._healthy_event = asyncio.Event()
        self._publisher_ok = False
        self._listening = False
        self._publisher: aioredis.Redis | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0
        """Messages dropped because the buffer was full (since start)."""
        self._dropped_unannounced = 0
        self.resyncs_announced = 0
        """``feed:resync`` broadcasts to this hub's sockets after a listener reconnect."""
        self.publish_errors = 0
        """Failed publishes or PINGs (each retried; metrics read this)."""
        self.listen_errors = 0
        """Listener connections lost or refused (each reconnected; metrics read this)."""

    # -- public --------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Redis answers now: the last publish or PING worked and, unless write-only, the
        listener is subscribed."""
        return self._publisher_ok and (self.write_only or self._listening)

    @property
    def buffered(self) -> int:
        """Messages waiting to be published."""
        return len(self._buffer)

    async def wait_until_healthy(self) -> None:
        """Return once :attr:`healthy` (bound it with ``asyncio.timeout``)."""
        await self._healthy_event.wait()

    async def start(self) -> None:
        """Start publishing and, for a server's manager, listening. Returns at once, whether
        Redis is up or not."""
        self._ensure_drain()
        server = getattr(self, "server", None)
        if not self.write_only and server is not None and not server.manager_initialized:
            # python-socketio would initialize (start listening) on the first connection only;
            # we want health known, and resyncs possible, from startup.
            server.manager_initialized = True
            self.initialize()

    async def aclose(self) -> None:
        """Publish what is buffered if Redis answers within a second, then stop."""
        if self._closed:
            return
        self._closed = True
        for task in (self._drain_task, getattr(self, "thread", None)):
            if isinstance(task, asyncio.Task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._buffer and self._publisher_ok:
            with contextlib.suppress(TimeoutError, *_REDIS_ERRORS):
                async with asyncio.timeout(CLOSE_FLUSH_SECS):
                    while self._buffer:
                        await self._publish_batch()
        if self._buffer:
            log.warning("closing with %d unpublished Socket.IO message(s)", len(self._buffer))
        if self._publisher is not None:
            await self._publisher.aclose()
            self._publisher = None

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        target = to or room
        if (
            not kwargs.get("ignore_queue")
            and target is not None
            and callback is None
            and getattr(self, "server", None) is not None
            and self.is_connected(target, namespace or "/")
        ):
            # A socket id connected here: no other hub has it.
            kwargs["ignore_queue"] = True
        await super().emit(
            event,
            data,
            namespace=namespace,
            room=target,
            skip_sid=skip_sid,
            callback=callback,
            **kwargs,
        )

    # -- publishing ----------------------------------------------------------------------------

    async def _publish(self, data: Any) -> None:
        """Buffer ``data`` for the drain task; never waits on Redis."""
        if self._closed:
            log.warning("dropping a Socket.IO message published after close")
            return
        if len(self._buffer) >= self._options.buffer_max:
            self._buffer.popleft()
            self.dropped += 1
            self._dropped_unannounced += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "Socket.IO fan-out buffer full (%d): dropped %d message(s) so far",
                    self._options.buffer_max,
                    self.dropped,
                )
        self._buffer.append((next(self._numbers), self.json.dumps(data)))
        self._ensure_drain()
        self._wake.set()

    def _ensure_drain(self) -> None:
        if self._drain_task is None and not self._closed:
            self._drain_task = asyncio.get_running_loop().create_task(
                self._drain(), name="socketio-redis-publish"
            )

    def _client(self) -> aioredis.Redis:
        if self._publisher is None:
            pool = aioredis.BlockingConnectionPool.from_url(
                self._options.url,
                max_connections=self._options.max_connections,
                timeout=POOL_WAIT_SECS,
                socket_connect_timeout=CONNECT_TIMEOUT_SECS,
                socket_timeout=COMMAND_TIMEOUT_SECS,
                socket_keepalive=True,
                socket_keepalive_options=_keepalive_options(),
                health_check_interval=self._options.health_check_secs,
                # Our loop retries with its own backoff; redis-py's default retries would hide
                # an outage from `healthy` for seconds.
                retry=Retry(NoBackoff(), 0),
            )
            self._publisher = aioredis.Redis.from_pool(pool)
        return self._publisher

    async def _drain(self) -> None:
        delay = RETRY_MIN_SECS
        while True:
            if not self._buffer and self._publisher_ok:
                # Idle and healthy: PING once per interval. Unhealthy: PING now (the backoff
                # already slept), so `healthy` turns True as soon as Redis answers.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._options.health_check_secs)
            try:
                if self._buffer:
                    await self._publish_batch()
                else:
                    await self._client().ping()
            except _REDIS_ERRORS as exc:
                self.publish_errors += 1
                self._set_publisher_ok(False, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._options.retry_max_secs)
                continue
            delay = RETRY_MIN_SECS
            self._set_publisher_ok(True)
            if self._dropped_unannounced:
                self._dropped_unannounced = 0
                await self._publish(self._resync_message(RESYNC_OVERFLOW))

    async def _publish_batch(self) -> None:
        batch = list(itertools.islice(self._buffer, PUBLISH_BATCH))
        async with self._client().pipeline(transaction=False) as pipe:
            for _, payload in batch:
                pipe.publish(self.channel, payload)
            await pipe.execute()
        # The buffer may have dropped from its head meanwhile: remove by number, not count.
        last = batch[-1][0]
        while self._buffer and self._buffer[0][0] <= last:
            self._buffer.popleft()

    def _resync_message(self, reason: str) -> dict[str, Any]:
        """A broadcast emit, as ``AsyncPubSubManager.emit`` would publish it."""
        return {
            "method": "emit",
            "event": FEED_RESYNC,
            "data": [{"reason": reason}],
            "binary": False,
            "namespace": "/",
            "room": None,
            "skip_sid": None,
            "callback": None,
            "host_id": self.host_id,
        }

    # -- listening -----------------------------------------------------------------------------

    async def _listen(self) -> AsyncIterator[bytes]:
        """Messages on our channel, forever: reconnects with backoff and announces a resync to
        local sockets after every re-subscribe that follows a failure."""
        channel = self.channel.encode()
        delay = RETRY_MIN_SECS
        failed = False
        while True:
            client: aioredis.Redis | None = None
            pubsub: Any = None
            try:
                client = aioredis.Redis.from_url(
                    self._options.url,
                    socket_connect_timeout=CONNECT_TIMEOUT_SECS,
                    socket_keepalive=True,
                    socket_keepalive_options=_keepalive_options(),
                    health_check_interval=self._options.health_check_secs,
                    retry=Retry(NoBackoff(), 0),
                )
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                delay = RETRY_MIN_SECS
                self._set_listening(True)
                if failed:
                    failed = False
                    await self._announce_resync()
                while True:
                    # Polling (not listen()) runs redis-py's health-check PING every interval.
                    message = await pubsub.get_message(timeout=LISTEN_POLL_SECS)
                    if (
                        message is not None
                        and message.get("type") == "message"
                        and message.get("channel") == channel
                    ):
                        yield message["data"]
            except _REDIS_ERRORS as exc:
                self.listen_errors += 1
                failed = True
                self._set_listening(False, exc)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(*_REDIS_ERRORS):
                        await pubsub.aclose()
                if client is not None:
                    with contextlib.suppress(*_REDIS_ERRORS):
                        await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._options.retry_max_secs)

    async def _announce_resync(self) -> None:
        self.resyncs_announced += 1
        log.warning("Socket.IO fan-out re-subscribed after an outage: asking clients to resync")
        await self.server.emit(
            FEED_RESYNC, {"reason": RESYNC_RECONNECTED}, namespace="/", ignore_queue=True
        )

    # -- health --------------------------------------------------------------------------------

    def _set_publisher_ok(self, ok: bool, exc: BaseException | None = None) -> None:
        if ok != self._publisher_ok:
            if ok:
                log.info("Redis reachable for Socket.IO fan-out")
            else:
                log.warning(
                    "Redis unreachable for Socket.IO fan-out (%r); buffering %d message(s)",
                    exc,
                    len(self._buffer),
                )
        self._publisher_ok = ok
        self._update_health()

    def _set_listening(self, listening: bool, exc: BaseException | None = None) -> None:
        if not listening and self._listening:
            log.warning("Socket.IO fan-out listener lost Redis (%r); reconnecting", exc)
        self._listening = listening
        self._update_health()

    def _update_health(self) -> None:
        if self.healthy:
            self._healthy_event.set()
        else:
            self._healthy_event.clear()


def write_only_manager(options: RedisFanoutOptions) -> RedisFanoutManager:
    """An emitter for processes without a Socket.IO server (actors, relays)::

        manager = write_only_manager(options)
        await manager.start()
        await manager.emit("notifications:read", payload, room=user_room(user_id))
        ...
        await manager.aclose()

    Same buffering, retries and :attr:`~RedisFanoutManager.healthy` as a hub's manager;
    ``emit`` returns before Redis has the message."""
    return RedisFanoutManager(options, write_only=True)


@contextlib.asynccontextmanager
async def running_manager(manager: RedisFanoutManager) -> AsyncIterator[RedisFanoutManager]:
    """``start`` now, ``aclose`` on exit."""
    await manager.start()
    try:
        yield manager
    finally:
        await manager.aclose()


def build_client_manager(settings: Settings) -> RedisFanoutManager | None:
    """The hub server's client manager: shared rooms through Redis with ``REDIS_URL``, else
    None (python-socketio's in-process manager)."""
    options = RedisFanoutOptions.from_settings(settings)
    return None if options is None else RedisFanoutManager(options)


def client_manager_context(
    sio: socketio.AsyncServer,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context that starts ``sio``'s Redis manager (if it has one) and
    closes it after everything registered later has stopped."""

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        manager = sio.manager
        if not isinstance(manager, RedisFanoutManager):
            yield
            return
        async with running_manager(manager):
            yield

    return lifecycle
