"""``seva serve --demo`` runs both gateway emulators and points the demo tenants at them."""

from __future__ import annotations

import shutil
import stat

import aiohttp
import pytest

from hub.chaos.processes import free_port
from protocols.api_responses import DemoData
from tests.e2e.test_run_command import _private_root, _serve, _stop, _wait_ready


async def _demo(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(f"{url}/api/v1/demo") as resp:
        assert resp.status == 200
        # A `seva serve` process has no test middleware: check the documented schema here.
        DemoData.model_validate_json(await resp.read())
        return await resp.json()


@pytest.mark.timeout(240)
async def test_serve_demo_lists_live_emulators_and_every_tenants_test_accounts():
    root = _private_root()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        proc = await _serve(root / "data", port)
        try:
            await _wait_ready(url, proc)
            async with aiohttp.ClientSession() as http:
                demo = await _demo(http, url)
                emulators = demo["gateways"]
                assert set(emulators) == {"razorpay", "cashfree"}
                for name, emulator in emulators.items():
                    base = emulator["base_url"]
                    assert base.startswith("http://127.0.0.1:")
                    assert emulator["checkout"] == f"POST {base}/_emulator/orders/{{order_id}}/pay"
                    async with http.get(f"{base}/_emulator/health") as resp:
                        assert await resp.json() == {"gateway": name, "status": "ok"}
                assert emulators["cashfree"]["api_base_url"].endswith("/pg")

                async with http.get(
                    f"{emulators['razorpay']['base_url']}/_emulator/merchants"
                ) as resp:
                    razorpay_merchants = {m["key_id"]: m for m in (await resp.json())["merchants"]}
                async with http.get(
                    f"{emulators['cashfree']['base_url']}/_emulator/merchants"
                ) as resp:
                    cashfree_merchants = {
                        m["client_id"]: m for m in (await resp.json())["merchants"]
                    }
                assert len(demo["tenants"]) == 4
                for tenant in demo["tenants"]:
                    accounts = tenant["gateways"]
                    assert list(accounts) == ["razorpay", "cashfree"]  # by priority
                    razorpay, cashfree = accounts["razorpay"], accounts["cashfree"]
                    assert razorpay["key_id"].startswith("rzp_test_")
                    assert len(razorpay["webhook_secrets"]) == 1
                    assert len(cashfree["webhook_secrets"]) == 1
                    hook = f"http://127.0.0.1:{port}/api/v1/webhooks/%s/{tenant['tenant_id']}"
                    assert razorpay_merchants[razorpay["key_id"]]["webhook_url"] == (
                        hook % "razorpay"
                    )
                    assert cashfree_merchants[cashfree["key_id"]]["webhook_url"] == (
                        hook % "cashfree"
                    )
        finally:
            out = await _stop(proc)
        assert "gateway emulators" in out
        key_file = root / "data" / "secret-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text()

        # A restart reuses the key (the stored credentials still decrypt) with new emulators.
        proc = await _serve(root / "data", port)
        try:
            await _wait_ready(url, proc)
            async with aiohttp.ClientSession() as http:
                again = (await _demo(http, url))["gateways"]
                for emulator in again.values():
                    async with http.get(f"{emulator['base_url']}/_emulator/health") as resp:
                        assert resp.status == 200
        finally:
            await _stop(proc)
        assert key_file.read_text() == key
    finally:
        shutil.rmtree(root, ignore_errors=True)
