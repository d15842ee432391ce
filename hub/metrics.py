"""Prometheus metrics of one hub: ``HubMetrics`` and ``GET /metrics``.

Each app builds its own :class:`HubMetrics` with its own ``CollectorRegistry`` (no default
registry: two apps in one process never share a counter) and hands its recorders to what
records, as plain callbacks, so ``actors/`` and the services never import this module.

Two kinds of series (README "Observability" lists every one):

- **recorded** as things happen: socket events in/out, actor call latency and batch sizes,
  webhook outcomes, payment routing decisions, delivery outcomes;
- **read at scrape time**: socket connections by transport, PostgreSQL pool usage, Redis
  fan-out errors (counters the manager keeps), and the outbox backlogs (one query, see
  :func:`storage.observability.outbox_backlogs`, bounded by a timeout; on failure the series
  keep their last values and ``seva_metrics_scrape_errors_total`` counts it).

``/metrics`` is unauthenticated, like ``/healthz``: serve it on a private network or strip it at
the proxy (README).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import asyncpg
import socketio
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.api_spec import api
from hub.guard import requires
from protocols.permissions import Perm
from storage.observability import outbox_backlogs

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_QUERY_TIMEOUT_SECS = 2.0
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
KNOWN_TRANSPORTS = ("websocket", "polling")


class HubMetrics:
    """The hub's series and the callbacks that record them (all cheap and non-blocking)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_in = Counter(
            "seva_socket_events_in",
            "Client → server Socket.IO events handled, by event and outcome (ok or error code)",
            ["event", "outcome"],
            registry=r,
        )
        self.events_out = Counter(
            "seva_socket_events_out",
            "Server → client Socket.IO emits (one per emit, whatever the number of recipients)",
            ["event"],
            registry=r,
        )
        self.actor_call_seconds = Histogram(
            "seva_actor_call_seconds",
            "Time from submitting a command to a shard pool to its committed answer",
            ["pool", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.actor_batch_size = Histogram(
            "seva_actor_batch_size",
            "Commands per shard call (one call = one PostgreSQL transaction: group commit)",
            ["pool"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.webhooks = Counter(
            "seva_webhooks",
            "Gateway webhooks received, by gateway and result",
            ["gateway", "result"],
            registry=r,
        )
        self.route_decisions = Counter(
            "seva_payment_route_decisions",
            "Gateway attempts chosen by the payment router, by gateway and reason",
            ["gateway", "reason"],
            registry=r,
        )
        self.deliveries = Counter(
            "seva_deliveries",
            "Delivery attempts finished, by channel and outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "seva_outbox_pending",
            "Rows waiting in an outbox (read at scrape time)",
            ["outbox"],
            registry=r,
        )
        self.outbox_lag = Gauge(
            "seva_outbox_lag_seconds",
            "Age of the oldest row waiting in an outbox, 0 when empty (read at scrape time)",
            ["outbox"],
            registry=r,
        )
        self.scrape_errors = Counter(
            "seva_metrics_scrape_errors",
            "Scrape-time reads that failed (the series they feed keep their last values)",
            ["source"],
            registry=r,
        )
        self._live = _LiveCollector()
        r.register(self._live)
        self._outboxes_seen: set[str] = set()
        self._db: asyncpg.Pool | None = None

    # -- what the services call ------------------------------------------------------------------

    def event_in(self, event: str, outcome: str) -> None:
        self.events_in.labels(event, outcome).inc()

    def event_out(self, event: str) -> None:
        self.events_out.labels(event).inc()

    def actor_observer(self, pool: str) -> Callable[[str, float, int | None], None]:
        """For :class:`actors.pool.ShardPool`: ``(operation, seconds, None)`` per command
        answered, ``("", 0.0, size)`` per batch sent."""
        batch = self.actor_batch_size.labels(pool)

        def observe(operation: str, seconds: float, batch_size: int | None) -> None:
            if batch_size is not None:
                batch.observe(batch_size)
            else:
                self.actor_call_seconds.labels(pool, operation).observe(seconds)

        return observe

    def webhook(self, gateway: str, result: str) -> None:
        self.webhooks.labels(gateway, result).inc()

    def route_decision(self, gateway: str, reason: str) -> None:
        self.route_decisions.labels(gateway, reason).inc()

    def delivery(self, channel: str, outcome: str) -> None:
        self.deliveries.labels(channel, outcome).inc()

    # -- what is read at scrape time -------------------------------------------------------------

    def watch_db(self, db: asyncpg.Pool) -> None:
        self._db = db
        self._live.db = db

    def watch_sockets(self, sio: socketio.AsyncServer, sids: Callable[[], Iterable[str]]) -> None:
        self._live.sio = sio
        self._live.sids = sids

    def watch_redis(self, manager: Any) -> None:
        """``manager``: a :class:`hub.redis_manager.RedisFanoutManager` (its error counters)."""
        self._live.redis = manager

    async def refresh(self) -> None:
        """Read what needs the database (outbox backlogs) just before a scrape."""
        if self._db is None:
            return
        try:
            async with asyncio.timeout(SCRAPE_QUERY_TIMEOUT_SECS):
                async with self._db.acquire() as conn:
                    backlogs = await outbox_backlogs(conn)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.scrape_errors.labels("outbox").inc()
            log.warning("metrics: outbox backlog query failed: %r", exc)
            return
        seen = set()
        for backlog in backlogs:
            seen.add(backlog.name)
            self.outbox_pending.labels(backlog.name).set(backlog.pending)
            self.outbox_lag.labels(backlog.name).set(round(backlog.oldest_age_secs, 3))
        for gone in self._outboxes_seen - seen - {"outbox_events", "feed_events"}:
            # A channel with nothing due: say 0 rather than repeating an old backlog.
            self.outbox_pending.labels(gone).set(0)
            self.outbox_lag.labels(gone).set(0)
        self._outboxes_seen |= seen

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    """Series read from live objects when scraped (nothing to update in between)."""

    def __init__(self) -> None:
        self.db: asyncpg.Pool | None = None
        self.sio: socketio.AsyncServer | None = None
        self.sids: Callable[[], Iterable[str]] | None = None
        self.redis: Any = None

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: its series appear only once their sources exist

    def collect(self) -> Iterator[Metric]:
        if self.sio is not None and self.sids is not None:
            by_transport = dict.fromkeys(KNOWN_TRANSPORTS, 0)
            for sid in list(self.sids()):
                try:
                    transport = self.sio.transport(sid)
                except (KeyError, ValueError):
                    continue  # went away meanwhile
                by_transport[transport] = by_transport.get(transport, 0) + 1
            gauge = GaugeMetricFamily(
                "seva_socket_connections",
                "Authenticated Socket.IO connections on this hub, by transport",
                labels=["transport"],
            )
            for transport, count in sorted(by_transport.items()):
                gauge.add_metric([transport], count)
            yield gauge
        if self.db is not None:
            size, idle = self.db.get_size(), self.db.get_idle_size()
            pool = GaugeMetricFamily(
                "seva_db_pool_connections",
                "The hub's PostgreSQL pool: connections in use, idle, and the maximum",
                labels=["state"],
            )
            pool.add_metric(["in_use"], size - idle)
            pool.add_metric(["idle"], idle)
            pool.add_metric(["max"], self.db.get_max_size())
            yield pool
        if self.redis is not None:
            errors = CounterMetricFamily(
                "seva_redis_fanout_errors",
                "Redis errors of the Socket.IO fan-out, by operation (publish/ping, listen)",
                labels=["operation"],
            )
            errors.add_metric(["publish"], self.redis.publish_errors)
            errors.add_metric(["listen"], self.redis.listen_errors)
            yield errors
            dropped = CounterMetricFamily(
                "seva_redis_fanout_dropped",
                "Fan-out messages dropped because the Redis buffer was full",
            )
            dropped.add_metric([], self.redis.dropped)
            yield dropped
            healthy = GaugeMetricFamily(
                "seva_redis_fanout_healthy", "1 when the Socket.IO fan-out reaches Redis now"
            )
            healthy.add_metric([], 1 if self.redis.healthy else 0)
            yield healthy


METRICS = web.AppKey("metrics", HubMetrics)

routes = web.RouteTableDef()


@routes.get("/metrics")
@api(
    "Prometheus metrics of this hub process (text exposition format)",
    tags="health",
    response={"type": "string"},
    response_media_type="text/plain",
)
@requires(Perm.PUBLIC)  # like /healthz; keep it off the public internet (README)
async def metrics_view(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    await metrics.refresh()
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
