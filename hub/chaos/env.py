"""An in-process chaos environment: a fresh database, both gateway emulators, and hubs
(``create_app`` on aiohttp runners, free loopback ports) sharing one Ray.

Multi-process set-ups (``seva serve`` subprocesses, Redis, a Ray head) build on the same
pieces: :func:`chaos_settings` for the hub settings, the emulators and the database.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from hub.chaos.options import ChaosOptions
from hub.settings import Settings

# The reconcile job must settle payments whose webhooks were dropped within a small run.
RECONCILE_EVERY_SECS = 1.0
RECONCILE_AFTER_SECS = 2.0


def chaos_settings(**overrides: Any) -> Settings:
    """Hub settings for a chaos run: two tenant and wallet shards, a private Ray namespace,
    throwaway JWT and sealing keys, socket and login limits out of the way, and a fast
    reconcile job (``RECONCILE_*``)."""
    from protocols.secretbox import generate_key

    values: dict[str, Any] = {
        "shards": 2,
        "ray_namespace": f"seva-chaos-{uuid.uuid4().hex[:8]}",
        "jwt_secret": SecretStr(secrets.token_urlsafe(48)),
        "secret_key": SecretStr(generate_key()),
        "socket_events_per_sec": 10_000.0,
        "socket_burst": 10_000,
        "login_max_failures": 100_000,
        "reconcile_every_secs": RECONCILE_EVERY_SECS,
        "reconcile_after_secs": RECONCILE_AFTER_SECS,
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class ChaosHub:
    url: str
    app: web.Application
    runner: web.AppRunner


@dataclass
class ChaosEnv:
    dsn: str
    settings: Settings
    emulators: Mapping[str, str]
    hubs: list[ChaosHub] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [h.url for h in self.hubs]


async def start_hub(settings: Settings, dsn: str) -> ChaosHub:
    from hub.app import create_app

    app = create_app(settings, dsn=dsn, secret_key=settings.secret_key)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return ChaosHub(f"http://127.0.0.1:{port}", app, runner)


@contextlib.asynccontextmanager
async def fresh_database(options: ChaosOptions) -> AsyncIterator[str]:
    """A new, migrated database on ``options.dsn``'s server, dropped afterwards."""
    from hub.bench.scratch import scratch_database

    if options.dsn is None:
        raise ValueError("a chaos scenario needs a PostgreSQL server DSN")
    async with scratch_database(options.dsn, keep_data=options.keep_data) as dsn:
        yield dsn


@contextlib.asynccontextmanager
async def gateway_emulators() -> AsyncIterator[dict[str, str]]:
    """Both emulators on free loopback ports: gateway → root URL."""
    from protocols.gateways.emulators import (
        CashfreeEmulatorConfig,
        RazorpayEmulatorConfig,
        create_cashfree_emulator,
        create_razorpay_emulator,
        run_emulator,
    )

    async with (
        run_emulator(create_razorpay_emulator(RazorpayEmulatorConfig())) as razorpay_url,
        run_emulator(create_cashfree_emulator(CashfreeEmulatorConfig())) as cashfree_url,
    ):
        yield {"razorpay": razorpay_url, "cashfree": cashfree_url}


@contextlib.asynccontextmanager
async def chaos_environment(
    options: ChaosOptions, *, hubs: int = 1, **settings_overrides: Any
) -> AsyncIterator[ChaosEnv]:
    """A fresh database, the emulators and ``hubs`` in-process hubs on one Ray (started by the
    first hub unless this process already runs one)."""
    async with fresh_database(options) as dsn, gateway_emulators() as emulators:
        env = ChaosEnv(dsn, chaos_settings(**settings_overrides), emulators)
        try:
            for _ in range(hubs):
                env.hubs.append(await start_hub(env.settings, dsn))
            yield env
        finally:
            for hub in reversed(env.hubs):
                await hub.runner.cleanup()
