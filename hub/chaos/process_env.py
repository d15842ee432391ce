"""A multi-process chaos environment: ``seva serve`` hubs as real processes on one Ray head and
one redis-server (``hub.chaos.processes``), the gateway emulators in this process, and a fresh
database — on ``options.dsn``'s server, or on a private PostgreSQL cluster of the run's own
when the scenario crashes PostgreSQL.

:func:`drive_watched` runs :func:`hub.chaos.driver.drive` with availability subscribers
(:mod:`hub.chaos.subscribers`) beside the workload: every ``seq`` they missed counts as lost,
and their failovers and resumptions go to ``details.subscriptions``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub.chaos.driver import drive
from hub.chaos.env import (
    RECONCILE_AFTER_SECS,
    RECONCILE_EVERY_SECS,
    chaos_settings,
    fresh_database,
    gateway_emulators,
)
from hub.chaos.options import ChaosOptions
from hub.chaos.processes import HubCluster, PrivatePostgres, hub_cluster, private_postgres
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import Injector, ScheduledFault
from hub.chaos.subscribers import StreamWatchers

SUBSCRIBERS = 4


@dataclass
class ProcessEnv:
    dsn: str
    cluster: HubCluster
    emulators: dict[str, str]
    postgres: PrivatePostgres | None = None

    @property
    def urls(self) -> list[str]:
        return self.cluster.urls()


@contextlib.asynccontextmanager
async def process_environment(
    options: ChaosOptions,
    *,
    hubs: tuple[str, ...] = ("a", "b"),
    own_postgres: bool = False,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[ProcessEnv]:
    """Start everything (the hubs last, in parallel); stop every process on exit, whatever
    happened."""
    settings = chaos_settings()
    assert settings.jwt_secret is not None and settings.secret_key is not None
    async with contextlib.AsyncExitStack() as stack:
        postgres: PrivatePostgres | None = None
        if own_postgres:
            postgres = await stack.enter_async_context(private_postgres())
            dsn = postgres.dsn
            await _migrate(dsn)
        else:
            dsn = await stack.enter_async_context(fresh_database(options))
        emulators = await stack.enter_async_context(gateway_emulators())
        cluster = await stack.enter_async_context(
            hub_cluster(
                dsn,
                jwt_secret=settings.jwt_secret.get_secret_value(),
                secret_key=settings.secret_key.get_secret_value(),
                hub_names=hubs,
                extra_env={
                    "SEVA_RECONCILE_EVERY_SECS": str(RECONCILE_EVERY_SECS),
                    "SEVA_RECONCILE_AFTER_SECS": str(RECONCILE_AFTER_SECS),
                    **(extra_env or {}),
                },
                # Everything was checked by then: what a hub would finish no longer matters.
                graceful_stop=False,
            )
        )
        options.out(f"cluster up: hubs {', '.join(cluster.urls())}, Redis {cluster.redis.url}")
        yield ProcessEnv(dsn, cluster, dict(emulators), postgres)


async def _migrate(dsn: str) -> None:
    from storage.migrate import apply_migrations

    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


async def drive_watched(
    scenario: str,
    options: ChaosOptions,
    env: ProcessEnv,
    *,
    schedule: Sequence[ScheduledFault],
    inject: Injector,
    probe_cross_hub: bool = False,
    workload_options: Mapping[str, Any] | None = None,
) -> ScenarioResult:
    """``drive`` on the cluster's hubs with :data:`SUBSCRIBERS` availability subscribers
    watching; with ``probe_cross_hub`` a notice sent through the first hub afterwards must
    reach every subscriber, on whichever hub it is."""
    watchers = StreamWatchers(env.urls, env.dsn, count=SUBSCRIBERS)
    watchers.start()
    try:
        result = await drive(
            scenario,
            options,
            urls=env.urls,
            dsn=env.dsn,
            emulators=env.emulators,
            schedule=schedule,
            inject=inject,
            workload_options=workload_options,
        )
        await env.cluster.ensure_hubs()
        caught_up = await watchers.catch_up()
        if probe_cross_hub:
            await watchers.probe_notice()
        await watchers.stop()
    finally:
        await watchers.cancel()
    missed, details = await watchers.check()
    details["caught_up"] = caught_up
    for line in missed[:20]:
        options.out(f"LOST {line}")
    result.lost += len(missed)
    result.details["subscriptions"] = details
    result.details["lost_ops"] = (result.details.get("lost_ops") or []) + missed[:20]
    return result
