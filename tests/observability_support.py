"""A hub of its own for the observability tests: its own database, real email/SMS receivers,
both payment gateways pointed at the local emulators; plus a ``/metrics`` reader."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from hub import keys
from protocols.channels.emulators import create_channel_receiver
from protocols.channels.smtp_receiver import run_smtp_receiver
from protocols.gateways.emulators.common import run_emulator
from tests import support
from tests.conftest import channel_settings, start_hub
from tests.support import Hub, World, bearer, create_database, make_world, token_for

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class Rig:
    hub: Hub
    db: asyncpg.Pool
    receiver_url: str
    gateway_emulators: Any


@asynccontextmanager
async def observed_hub(
    pg_dsn: str, gateway_emulators: Any, **overrides: object
) -> AsyncIterator[Rig]:
    dsn = await create_database(pg_dsn)
    with run_smtp_receiver() as smtp:
        async with run_emulator(create_channel_receiver()) as receiver_url:
            settings = channel_settings(smtp.host, smtp.port, receiver_url, **overrides)
            handle, runner = await start_hub(settings, dsn)
            try:
                yield Rig(handle, handle.app[keys.DB], receiver_url, gateway_emulators)
            finally:
                await runner.cleanup()


async def world_with_phone_and_credits(rig: Rig) -> tuple[World, str]:
    """A fresh world whose user has an Indian mobile number; email and SMS credits given."""
    world = await make_world(rig.db, capacity=10)
    phone = f"+919{secrets.randbelow(10**9):09d}"
    async with rig.db.acquire() as conn:
        await conn.execute("UPDATE users SET phone = $2 WHERE id = $1", world.user_ids[0], phone)
    wallets = rig.hub.app[keys.WALLETS]
    for channel in ("EMAIL", "SMS"):
        tag = uuid.uuid4().hex
        await wallets.purchase_credits(
            channel=channel, units=10, rate_paise=0, vendor="test", transfer_id=f"buy-{tag}"
        )
        await wallets.allocate_credits(
            tenant_id=world.tenant_id,
            channel=channel,
            units=10,
            rate_paise=0,
            transfer_id=f"give-{tag}",
            low_balance_threshold=None,
        )
    return world, phone


async def configure_gateways(rig: Rig, world: World) -> None:
    """Both gateways for the world's tenant (fresh emulator merchants, webhooks to this hub)."""
    await support.configure_gateways(rig.hub, rig.db, rig.gateway_emulators, world.tenant_id)


async def emulator(rig: Rig, gateway: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        http.post(f"{rig.gateway_emulators.url(gateway)}/_emulator/{path}", json=body) as resp,
    ):
        return await resp.json()


async def pay_by_gateway(
    rig: Rig, world: World, hold_id: str, *, request_id: str | None = None
) -> dict[str, Any]:
    """Pay the hold through the router's gateway, complete the emulator's checkout and wait
    until the payment has its outcome; returns the payment view."""
    headers = bearer(token_for(rig.hub, world.user_ids[0], world.tenant_id, "user"))
    headers["Idempotency-Key"] = f"pay-{hold_id}"
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    async with aiohttp.ClientSession(headers=headers) as http:
        resp = await http.post(
            f"{rig.hub.url}/api/v1/payments/intents", json={"purpose": "hold", "ref": hold_id}
        )
        assert resp.status == 201, await resp.text()
        view = await resp.json()
        order_id = view["checkout"][view["gateway"]]["order_id"]
        await emulator(rig, view["gateway"], f"orders/{order_id}/pay", {})
        for _ in range(200):
            got = await (
                await http.get(f"{rig.hub.url}/api/v1/payments/{view['payment_id']}")
            ).json()
            if got["outcome"] is not None:
                return got
            await asyncio.sleep(0.1)
    raise AssertionError(f"payment never settled: {got}")


async def scrape(hub: Hub) -> Series:
    """Every sample of ``GET /metrics``, parsed by prometheus_client's own parser."""
    async with aiohttp.ClientSession() as http, http.get(f"{hub.url}/metrics") as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return series.get((name, frozenset(labels.items())), 0.0)


def total(series: Series, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in series.items() if n == name and wanted <= ls)
