"""Scenario 5, ``gateway-faults``: the gateways misbehave on a seeded schedule.

Faults (each at one emulator, ``gateway`` in the schedule):

``api_errors``
    the next ``count`` gateway API calls answer 500 (nothing applied);
``api_timeouts``
    the next ``count`` calls are held ``delay_secs`` and answer 504 (nothing applied);
``api_slow``
    the next ``count`` calls are held ``delay_secs``, then applied (a caller that gave up does
    not learn that they took effect);
``webhook_storm``
    for ``window_secs`` every webhook is delivered 50 times, the events of one payment in
    reverse order;
``webhooks_dropped``
    for ``window_secs`` webhooks are not sent at all (the reconcile job must settle those
    payments);
``webhooks_delayed``
    for ``window_secs`` webhooks are parked; they are delivered after the workload stopped,
    the payments were settled by reconciliation, and the tenant's hold TTL has passed again,
    newest first. The tenant's hold TTL is ``HOLD_TTL_SECS`` (8 s; 60 s with ``--long``),
    standing for the usual 10 minutes: one second is one virtual minute, so a parked webhook
    arrives at least "10 minutes" late, after the hold it paid for expired.

Money must not double: each captured payment ends as exactly one booking, wallet credit or
refund (``seva verify``'s payment checks), and the workload's wallets must balance.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import aiohttp

from hub.chaos.driver import drive
from hub.chaos.env import chaos_environment
from hub.chaos.options import ChaosOptions
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import ScheduledFault, build_schedule
from hub.chaos.workload import Workload

GATEWAYS = ("razorpay", "cashfree")
KINDS = (
    "api_errors",
    "api_timeouts",
    "api_slow",
    "webhook_storm",
    "webhooks_dropped",
    "webhooks_delayed",
)
STORM_COPIES = 50


def hold_ttl_secs(options: ChaosOptions) -> int:
    return 60 if options.long else 8


def _params(rng: random.Random, kind: str) -> dict[str, Any]:
    params: dict[str, Any] = {"gateway": rng.choice(GATEWAYS)}
    if kind.startswith("api_"):
        params["count"] = rng.randint(2, 8)
        if kind != "api_errors":
            params["delay_secs"] = round(rng.uniform(0.5, 3.0), 1)
    else:
        params["window_secs"] = round(rng.uniform(1.0, 2.5), 1)
    return params


def schedule_for(options: ChaosOptions) -> list[ScheduledFault]:
    return build_schedule(
        "gateway-faults",
        options.seed,
        duration_secs=options.duration_secs - 2.0,
        kinds=KINDS,
        mean_gap_secs=5.0 if options.long else 1.5,
        params=_params,
    )


def policy_of(fault: ScheduledFault) -> tuple[str, dict[str, Any]]:
    """``(control route, body)`` to set at the fault's emulator."""
    p = fault.params
    if fault.fault == "api_errors":
        return "faults", {"mode": "error_500", "count": p["count"]}
    if fault.fault == "api_timeouts":
        return "faults", {"mode": "timeout", "count": p["count"], "delay_secs": p["delay_secs"]}
    if fault.fault == "api_slow":
        return "faults", {"mode": "slow", "count": p["count"], "delay_secs": p["delay_secs"]}
    if fault.fault == "webhook_storm":
        return "webhooks/mode", {"duplicate": STORM_COPIES, "reorder": True}
    if fault.fault == "webhooks_dropped":
        return "webhooks/mode", {"drop": True}
    return "webhooks/mode", {"hold": True}


async def webhook_stats(http: aiohttp.ClientSession, emulator_url: str) -> dict[str, int]:
    """Delivery attempts by outcome at one emulator, and the most copies of one event."""
    async with http.get(f"{emulator_url}/_emulator/webhooks") as resp:
        deliveries = (await resp.json())["deliveries"]
    stats = dict(Counter(d["outcome"] for d in deliveries))
    stats["max_copies"] = max((d["copy"] for d in deliveries), default=0)
    return stats


async def run_gateway_faults(options: ChaosOptions) -> ScenarioResult:
    schedule = schedule_for(options)
    ttl = hold_ttl_secs(options)
    async with (
        chaos_environment(options) as env,
        aiohttp.ClientSession(raise_for_status=True) as http,
    ):

        async def control(gateway: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
            async with http.post(f"{env.emulators[gateway]}/_emulator/{route}", json=body) as r:
                return dict(await r.json())

        async def inject(fault: ScheduledFault) -> None:
            gateway = fault.params["gateway"]
            route, body = policy_of(fault)
            await control(gateway, route, body)
            if route == "webhooks/mode":
                await asyncio.sleep(fault.params["window_secs"])
                await control(gateway, route, {})

        async def deliver_late(workload: Workload) -> None:
            for gateway in GATEWAYS:
                await control(gateway, "faults", {})
            # Reconciliation settles what was parked or dropped; then, a hold TTL ("10
            # minutes") later, the parked webhooks arrive, newest first.
            settled = await workload.settle(within_secs=45.0)
            options.out(f"settled before the late webhooks: {settled}; waiting {ttl}s ...")
            await asyncio.sleep(ttl)
            released = 0
            for gateway in GATEWAYS:
                released += (await control(gateway, "webhooks/release", {"order": "lifo"}))[
                    "released"
                ]
            options.out(f"delivered {released} late webhook(s)")
            await asyncio.sleep(2.0)
            workload.extra["webhooks"] = {
                gateway: await webhook_stats(http, env.emulators[gateway]) for gateway in GATEWAYS
            }

        return await drive(
            "gateway-faults",
            options,
            urls=env.urls,
            dsn=env.dsn,
            emulators=env.emulators,
            schedule=schedule,
            inject=inject,
            workload_options={"hold_ttl_secs": ttl, "webhook_mischief": False},
            after_run=deliver_late,
        )
