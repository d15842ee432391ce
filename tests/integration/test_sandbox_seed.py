"""The compose sandbox's seeding one-shot, run as compose runs it, against real parts.

``seva demo-seed`` and then ``deploy/docker/sandbox_seed.py`` as subprocesses, with the
environment deploy/compose.yaml gives them, against a fresh PostgreSQL database and the real
Razorpay and Cashfree emulators: the demo tenants' gateways must point where the hubs reach the
emulators, and the emulators must know the demo merchants with webhooks to the hub URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import asyncpg

from protocols.gateways.emulators import (
    CashfreeEmulatorConfig,
    RazorpayEmulatorConfig,
    create_cashfree_emulator,
    create_razorpay_emulator,
    run_emulator,
)
from storage.demo import DEMO_TENANTS
from tests.conftest import TEST_SECRET_KEY
from tests.support import create_database

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "docker" / "sandbox_seed.py"
SEVA = Path(sys.executable).with_name("seva")
HUB_URL = "http://nginx:8080"


async def run(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def sandbox_env(dsn: str) -> dict[str, str]:
    """What compose's sandbox-seed service gets: DATABASE_URL and SEVA_SECRET_KEY only."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SEVA_") and k not in ("DATABASE_URL", "REDIS_URL", "RAY_ADDRESS")
    }
    env.update(DATABASE_URL=dsn, SEVA_SECRET_KEY=TEST_SECRET_KEY)
    return env


async def test_sandbox_seed_points_demo_tenants_at_shared_emulators(migrated_dsn: str) -> None:
    dsn = await create_database(migrated_dsn)
    env = sandbox_env(dsn)
    code, out, err = await run(str(SEVA), "demo-seed", env=env)
    assert code == 0, err
    async with (
        run_emulator(create_razorpay_emulator(RazorpayEmulatorConfig())) as razorpay_url,
        run_emulator(create_cashfree_emulator(CashfreeEmulatorConfig())) as cashfree_url,
    ):
        # The hubs' side and the control side differ (in compose: a loopback forwarder vs
        # the emulator's service name); here: localhost vs 127.0.0.1 for the same server.
        hub_side = {
            "razorpay": razorpay_url.replace("127.0.0.1", "localhost"),
            "cashfree": cashfree_url.replace("127.0.0.1", "localhost"),
        }
        argv = [
            sys.executable,
            str(SCRIPT),
            "--hub-url",
            HUB_URL,
            "--gateway",
            f"razorpay={hub_side['razorpay']},{razorpay_url}",
            "--gateway",
            f"cashfree={hub_side['cashfree']},{cashfree_url}",
        ]
        for _ in range(2):  # idempotent: a second run (after an emulator restart) is the same
            code, out, err = await run(*argv, env=env)
            assert code == 0, err
            assert json.loads(out.strip().splitlines()[-1]) == {
                "tenants": len(DEMO_TENANTS),
                "accounts": 2 * len(DEMO_TENANTS),
            }

        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT t.id AS tenant_id, g.gateway, g.base_url FROM tenant_gateways g"
                " JOIN tenants t ON t.id = g.tenant_id ORDER BY t.slug, g.gateway"
            )
        finally:
            await conn.close()
        assert len(rows) == 2 * len(DEMO_TENANTS)
        assert {(r["gateway"], r["base_url"]) for r in rows} == {
            ("razorpay", hub_side["razorpay"]),
            ("cashfree", hub_side["cashfree"] + "/pg"),
        }

        async with aiohttp.ClientSession(raise_for_status=True) as http:
            for gateway, url in (("razorpay", razorpay_url), ("cashfree", cashfree_url)):
                async with http.get(f"{url}/_emulator/merchants") as resp:
                    merchants = (await resp.json())["merchants"]
                webhooks = {m["webhook_url"] for m in merchants}
                assert webhooks == {
                    f"{HUB_URL}/api/v1/webhooks/{gateway}/{r['tenant_id']}"
                    for r in rows
                    if r["gateway"] == gateway
                }, gateway


async def test_sandbox_seed_refuses_a_malformed_gateway_and_a_missing_secret_key(
    migrated_dsn: str,
) -> None:
    env = sandbox_env(migrated_dsn)
    code, _, err = await run(
        sys.executable, str(SCRIPT), "--hub-url", HUB_URL, "--gateway", "paypal=x,y", env=env
    )
    assert code == 2
    assert "NAME=HUB_URL,CONTROL_URL" in err
    env.pop("SEVA_SECRET_KEY")
    code, _, err = await run(
        sys.executable,
        str(SCRIPT),
        "--hub-url",
        HUB_URL,
        "--gateway",
        "razorpay=http://127.0.0.1:1,http://127.0.0.1:1",
        env=env,
    )
    assert code == 2
    assert "SEVA_SECRET_KEY" in err
