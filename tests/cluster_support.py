"""Real processes for multi-hub tests: redis-server, a ``ray start --head`` cluster, and
``seva serve`` hubs attached to both, sharing the test PostgreSQL.

Every process runs in its own session (process group) and is killed as a group, so nothing
outlives a test run even when it fails. Ports are picked free just before use; hubs bind port
0 and announce the one they got.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from hub.auth import TokenIssuer
from tests.conftest import TEST_JWT_SECRET, TEST_SECRET_KEY
from tests.support import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
SERVING = re.compile(r"Seva Hub is serving on (http://\S+)")
START_TIMEOUT_SECS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return f"--- last {min(lines, len(text))} lines of {path.name}\n" + "\n".join(text[-lines:])


@dataclass
class Process:
    """A child in its own process group, its output in ``log``."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the whole group (the child and everything it started)."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)
        if sig == signal.SIGKILL:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)

    def stop(self, grace_secs: float = 10.0) -> None:
        """SIGTERM the group, SIGKILL it after ``grace_secs``."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.kill(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace_secs)
        # Whatever the leader left behind in its group goes too.
        self.kill(signal.SIGKILL)

    def output(self) -> str:
        return _tail(self.log)


async def _wait_for(check: object, what: str, proc: Process, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        if await check():  # type: ignore[operator]
            return
        if not proc.alive:
            raise AssertionError(f"{what}: process exited\n{proc.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not ready in {within} s\n{proc.output()}")
        await asyncio.sleep(0.1)


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@dataclass
class RedisServer:
    """``redis-server`` on a free loopback port, no persistence; stop and start it again on
    the same port to simulate an outage."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = Process("redis", argv, self.root / "redis.log", dict(os.environ))
        self.proc.start()
        await _wait_for(lambda: _port_open(self.port), "redis-server", self.proc, 15.0)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None


@dataclass
class RayHead:
    """``ray start --head --block`` with every port chosen here (so parallel runs on one
    machine do not collide on Ray's defaults) and token auth off."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        worker_low = 20_000 + (self.port % 12) * 1_000  # below the ephemeral range
        argv = [
            str(VENV_BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--min-worker-port={worker_low}",
            f"--max-worker-port={worker_low + 999}",
            "--include-dashboard=false",
            "--num-cpus=2",
            f"--object-store-memory={100 * 1024 * 1024}",
            f"--temp-dir={self.root / 'ray'}",
        ]
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        env.pop("RAY_ADDRESS", None)
        self.proc = Process("ray", argv, self.root / "ray.log", env)
        self.proc.start()

        async def started() -> bool:
            return "Ray runtime started" in self.proc.log.read_text(errors="replace")  # type: ignore[union-attr]

        await _wait_for(started, "ray start --head", self.proc, START_TIMEOUT_SECS)

    def stop(self) -> None:
        # A throwaway cluster: no graceful `ray stop` needed (it takes seconds).
        if self.proc is not None:
            self.proc.kill()
            self.proc = None


@dataclass
class HubProcess:
    """``seva serve`` in a subprocess; ``url`` once it announced itself."""

    name: str
    root: Path
    env: dict[str, str]
    proc: Process | None = None
    url: str = ""

    async def start(self) -> None:
        log = self.root / f"hub-{self.name}.log"
        argv = [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
        self.proc = Process(f"hub-{self.name}", argv, log, self.env)
        offset = log.stat().st_size if log.exists() else 0
        self.proc.start()

        async def announced() -> bool:
            with log.open(errors="replace") as handle:
                handle.seek(offset)
                found = SERVING.search(handle.read())
            if found:
                self.url = found.group(1)
            return found is not None

        await _wait_for(announced, f"hub {self.name}", self.proc, START_TIMEOUT_SECS)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive

    def crash(self) -> None:
        """kill -9 the hub (and anything in its process group)."""
        if self.proc is not None:
            self.proc.kill(signal.SIGKILL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def output(self) -> str:
        return self.proc.output() if self.proc is not None else "(not started)"


@dataclass
class HubCluster:
    """Two hubs (``a``, ``b``) on one Ray cluster, one Redis and one PostgreSQL."""

    root: Path
    redis: RedisServer
    ray: RayHead
    hubs: dict[str, HubProcess]
    tokens: TokenIssuer

    def url(self, name: str) -> str:
        return self.hubs[name].url

    async def ensure_hubs(self) -> None:
        """Start every hub that is not running (after a test killed one)."""
        down = [hub for hub in self.hubs.values() if not hub.alive]
        await asyncio.gather(*(hub.start() for hub in down))

    def logs(self) -> str:
        parts = [hub.output() for hub in self.hubs.values()]
        if self.redis.proc is not None:
            parts.append(self.redis.proc.output())
        return "\n".join(parts)

    def stop(self) -> None:
        # SIGTERM every hub at once, then wait: a graceful stop each takes seconds.
        for hub in self.hubs.values():
            if hub.proc is not None and hub.proc.alive:
                hub.proc.kill(signal.SIGTERM)
        for hub in self.hubs.values():
            hub.stop()
        self.ray.stop()
        self.redis.stop()


def hub_env(
    *, dsn: str, redis_url: str, ray_address: str, namespace: str, data_dir: Path
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SEVA_", "RAY_", "REDIS_", "DATABASE_"))
    }
    env.update(
        {
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_url,
            "RAY_ADDRESS": ray_address,
            "RAY_AUTH_MODE": "disabled",
            "SEVA_RAY_NAMESPACE": namespace,
            "SEVA_SHARDS": "2",
            "SEVA_WALLET_SHARDS": "1",
            "SEVA_DATA_DIR": str(data_dir),
            "SEVA_JWT_SECRET": TEST_JWT_SECRET,
            "SEVA_SECRET_KEY": TEST_SECRET_KEY,
            "SEVA_SOCKET_EVENTS_PER_SEC": "10000",
            "SEVA_SOCKET_BURST": "10000",
            "SEVA_LOGIN_MAX_FAILURES": "1000",
            # Outage tests want reconnects within a second, not the production 5 s cap.
            "SEVA_REDIS_RETRY_MAX_SECS": "0.5",
            "SEVA_REDIS_HEALTH_CHECK_SECS": "1",
            "SEVA_LOG_LEVEL": "INFO",
        }
    )
    return env


@contextlib.asynccontextmanager
async def hub_cluster(
    dsn: str, *, hub_names: tuple[str, ...] = ("a", "b")
) -> AsyncIterator[HubCluster]:
    """Start Redis and Ray, then the hubs (in parallel); stop everything on exit, whatever
    happened."""
    root = Path(tempfile.mkdtemp(prefix="seva-hubs-"))
    redis = RedisServer(root)
    ray_head = RayHead(root)
    namespace = f"seva-cluster-{root.name[-8:]}"
    hubs = {
        name: HubProcess(
            name,
            root,
            hub_env(
                dsn=dsn,
                redis_url=redis.url,
                ray_address=ray_head.address,
                namespace=namespace,
                data_dir=root / f"data-{name}",
            ),
        )
        for name in hub_names
    }
    cluster = HubCluster(
        root,
        redis,
        ray_head,
        hubs,
        TokenIssuer({"k1": TEST_JWT_SECRET}, active_kid=None, ttl_secs=900),
    )
    try:
        await asyncio.gather(redis.start(), ray_head.start())
        await cluster.ensure_hubs()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


async def http_json(
    method: str, url: str, *, token: str | None = None, body: object = None
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


@contextlib.contextmanager
def explain_failure(cluster: HubCluster) -> Iterator[None]:
    """On an assertion failure, append the processes' log tails to the message."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.logs()}") from exc
