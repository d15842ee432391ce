"""The README's run command: ``seva serve --demo`` on the embedded default, twice."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

import aiohttp
import pytest

from hub.chaos.processes import free_port
from tests.support import Client, connect_url


def _private_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="seva-run-"))
    root.chmod(0o755)  # the cluster may run as the postgres user, who must enter it
    return root


async def _serve(data_dir: Path, port: int) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RAY_ADDRESS")}
    env.update({"SEVA_DATA_DIR": str(data_dir), "RAY_AUTH_MODE": "disabled"})
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "serve",
        "--demo",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.returncode is not None:
                out = (await proc.stdout.read()).decode(errors="replace")
                raise AssertionError(f"seva serve exited early:\n{out[-3000:]}")
            try:
                async with http.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("seva serve never became ready")


async def _stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    return out.decode(errors="replace")


@pytest.mark.timeout(240)
async def test_serve_demo_answers_readyz_keeps_data_and_stops_cleanly():
    root = _private_root()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        proc = await _serve(root / "data", port)
        try:
            await _wait_ready(url, proc)
            async with aiohttp.ClientSession() as http:
                demo = await (await http.get(f"{url}/api/v1/demo")).json()
                kinds = sorted(t["kind"] for t in demo["tenants"])
                assert kinds == ["consultancy", "library", "temple", "venue"]
                temple = next(t for t in demo["tenants"] if t["kind"] == "temple")
                puja = next(r for r in temple["resources"] if r["name"] == "Rudrabhishek")
                slot = puja["slots"][-1]
                login = next(
                    u
                    for u in demo["users"]
                    if u["role"] == "user" and u["tenant"] == temple["slug"]
                )
                token = await (
                    await http.post(
                        f"{url}/api/v1/auth/login",
                        json={"email": login["email"], "password": login["password"]},
                    )
                ).json()
            client: Client = await connect_url(url, token["access_token"])
            try:
                ack = await client.call(
                    "hold:create",
                    {"slot_id": slot["slot_id"], "qty": 2, "idempotency_key": "run-1"},
                )
                assert ack["ok"], ack
            finally:
                await client.close()
        finally:
            out = await _stop(proc)
        assert "serving on" in out and "stopped" in out
        with socket.socket() as s:  # the private PostgreSQL went down with the hub
            assert s.connect_ex(("127.0.0.1", int((root / "data" / "port").read_text()))) != 0

        proc = await _serve(root / "data", port)
        try:
            await _wait_ready(url, proc)
            avail_url = (
                f"{url}/api/v1/tenants/{temple['tenant_id']}/resources/"
                f"{puja['resource_id']}/availability"
            )
            async with aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {token['access_token']}"}
            ) as http:
                relog = await (
                    await http.post(
                        f"{url}/api/v1/auth/login",
                        json={"email": login["email"], "password": login["password"]},
                    )
                ).json()
                http.headers["Authorization"] = f"Bearer {relog['access_token']}"
                body = await (await http.get(avail_url, params={"date": slot["date"]})).json()
            mine = next(s for s in body["slots"] if s["slot_id"] == slot["slot_id"])
            assert mine["available"] == slot["capacity"] - 2  # the first run's hold is kept
        finally:
            await _stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
