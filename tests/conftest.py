"""Real parts for every test: a throwaway PostgreSQL cluster, one Ray session, a hub server.

The cluster and Ray live for the whole run (starting them is what costs); every test makes its
own tenant, so tests do not see each other's data.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import ray
from aiohttp import ClientSession, web
from pydantic import SecretStr

from hub import keys
from hub.app import create_app
from hub.settings import Settings
from protocols.gateways.emulators import (
    CashfreeEmulatorConfig,
    RazorpayEmulatorConfig,
    create_cashfree_emulator,
    create_razorpay_emulator,
    run_emulator,
)
from protocols.gateways.interface import GatewayCredentials
from storage.cluster import LocalPostgres
from storage.gateway_credentials import api_base_url
from storage.migrate import apply_migrations
from tests import response_contracts
from tests.support import Hub

TEST_JWT_SECRET = "test-secret-not-for-production-" + "0123456789abcdef" * 3
# Seals tenants' gateway credentials in the shared test database (every hub uses this one).
TEST_SECRET_KEY = base64.b64encode(b"seva-test-secret-key-32-bytes!!!").decode()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="seva-test-pg-"))
    root.chmod(0o755)  # the cluster may run as the postgres user, who must enter it
    cluster = LocalPostgres(root / "pg", conf={"fsync": "off", "max_connections": "300"})
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        ray.init(
            # "local": a private Ray even when a cluster runs on this machine (the multi-hub
            # tests start one with `ray start --head`).
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=100 * 1024 * 1024,
            configure_logging=False,
        )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
async def migrated_dsn(pg_dsn: str) -> str:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return pg_dsn


@pytest.fixture(scope="session")
async def db(migrated_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(migrated_dsn, min_size=1, max_size=10)
    yield pool
    await pool.close()


def hub_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "shards": 2,
        "ray_namespace": f"seva-test-{uuid.uuid4().hex[:8]}",
        "jwt_secret": TEST_JWT_SECRET,
        "secret_key": TEST_SECRET_KEY,
        "socket_events_per_sec": 10_000.0,
        "socket_burst": 10_000,
        # Every test logs in from 127.0.0.1: the throttling test uses hubs of its own.
        "login_max_failures": 1_000,
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def channel_settings(
    smtp_host: str, smtp_port: int, receiver_url: str, **overrides: object
) -> Settings:
    """:func:`hub_settings` with email, SMS and WhatsApp pointed at local receivers (an
    aiosmtpd server and ``protocols.channels.emulators``), deliveries polled fast."""
    values: dict[str, object] = {
        "smtp_host": smtp_host,
        "smtp_port": smtp_port,
        "smtp_tls": "none",
        "smtp_from": "Seva Hub <noreply@seva.test>",
        "msg91_base_url": receiver_url,
        "msg91_auth_key": SecretStr("msg91-test-key"),
        "whatsapp_base_url": f"{receiver_url}/v21.0",
        "whatsapp_token": SecretStr("wa-test-token"),
        "whatsapp_phone_number_id": "100200300",
        "delivery_poll_secs": 0.1,
    }
    values.update(overrides)
    return hub_settings(**values)


async def start_hub(settings: Settings, dsn: str) -> tuple[Hub, web.AppRunner]:
    app = create_app(settings, dsn=dsn)
    response_contracts.install(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Hub(url=f"http://127.0.0.1:{port}", app=app, tokens=app[keys.TOKENS]), runner


@pytest.fixture(autouse=True)
def answers_fit_their_documented_schemas() -> Iterator[None]:
    """Fails the test during which any test hub answered outside its route's documented
    response schema (tests/response_contracts.py)."""
    response_contracts.take()
    yield
    mismatches = response_contracts.take()
    assert not mismatches, "\n".join(mismatches)


@pytest.fixture(scope="session")
async def hub(migrated_dsn: str, ray_session: None) -> AsyncIterator[Hub]:
    handle, runner = await start_hub(hub_settings(), migrated_dsn)
    yield handle
    await runner.cleanup()


@dataclass(frozen=True)
class EmulatorMerchant:
    """A merchant registered at one of the session's gateway emulators. ``base_url`` is what an
    adapter needs (Cashfree's API is under ``/pg``); ``emulator_url`` serves ``/_emulator``.
    Cashfree signs webhooks with the client secret: its ``webhook_secret`` is ``key_secret``."""

    gateway: str
    key_id: str
    key_secret: str
    webhook_secret: str
    base_url: str
    emulator_url: str

    def credentials(self) -> GatewayCredentials:
        return GatewayCredentials(
            key_id=self.key_id,
            key_secret=SecretStr(self.key_secret),
            webhook_secrets=(SecretStr(self.webhook_secret),),
            base_url=self.base_url,
        )


@dataclass(frozen=True)
class GatewayEmulators:
    """Both gateway emulators, in-process for the whole session. Each test registers its own
    merchants (they are isolated from each other); a test that sets faults or webhook modes
    (``POST /_emulator/faults``, ``/_emulator/webhooks/mode``) must reset them with ``{}``."""

    razorpay_url: str
    cashfree_url: str

    def url(self, gateway: str) -> str:
        return self.razorpay_url if gateway == "razorpay" else self.cashfree_url

    async def register_merchant(
        self, gateway: str, *, webhook_url: str | None = None
    ) -> EmulatorMerchant:
        """A new merchant with fresh random credentials, webhooks to ``webhook_url``."""
        tag = uuid.uuid4().hex[:12]
        if gateway == "razorpay":
            merchant = EmulatorMerchant(
                gateway,
                f"rzp_test_{tag}",
                f"ks-{tag}",
                f"whs-{tag}",
                self.razorpay_url,
                self.razorpay_url,
            )
            body = {
                "key_id": merchant.key_id,
                "key_secret": merchant.key_secret,
                "webhook_secret": merchant.webhook_secret,
                "webhook_url": webhook_url,
            }
        else:
            secret = f"cs-{tag}"
            merchant = EmulatorMerchant(
                gateway,
                f"cf_test_{tag}",
                secret,
                secret,
                api_base_url(gateway, self.cashfree_url),
                self.cashfree_url,
            )
            body = {
                "client_id": merchant.key_id,
                "client_secret": merchant.key_secret,
                "webhook_url": webhook_url,
            }
        async with (
            ClientSession(raise_for_status=True) as http,
            http.post(f"{merchant.emulator_url}/_emulator/merchants", json=body),
        ):
            pass
        return merchant


@pytest.fixture(scope="session")
async def gateway_emulators() -> AsyncIterator[GatewayEmulators]:
    async with (
        run_emulator(create_razorpay_emulator(RazorpayEmulatorConfig())) as razorpay_url,
        run_emulator(create_cashfree_emulator(CashfreeEmulatorConfig())) as cashfree_url,
    ):
        yield GatewayEmulators(razorpay_url=razorpay_url, cashfree_url=cashfree_url)


@dataclass(frozen=True)
class S3Server:
    """A real S3 API for the session: moto's server in its own process on a free loopback
    port. Each test module makes its own bucket (:meth:`create_bucket`)."""

    endpoint_url: str
    region: str = "us-east-1"
    access_key_id: str = "moto-test-key"
    secret_access_key: str = "moto-test-secret"

    def settings(self, bucket: str) -> dict[str, object]:
        """``hub_settings`` overrides for a hub storing files in ``bucket``."""
        return {
            "s3_bucket": bucket,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": self.region,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
        }

    async def create_bucket(self) -> str:
        from aiobotocore.session import get_session

        bucket = f"seva-test-{uuid.uuid4().hex[:12]}"
        async with get_session().create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        ) as s3:
            await s3.create_bucket(Bucket=bucket)
        return bucket


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start (exit {proc.poll()})") from None
                time.sleep(0.1)
        yield S3Server(endpoint_url=url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
