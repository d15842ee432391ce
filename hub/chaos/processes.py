"""Real processes for multi-process runs (the chaos suite and the cluster tests): a private
PostgreSQL cluster, redis-server, a ``ray start --head`` cluster and ``seva serve`` hubs
attached to all three.

Every child runs in its own session (process group) and is killed as a group, so nothing
outlives a run even when it fails: :func:`hub_cluster` and :func:`private_postgres` stop what
they started in ``finally`` blocks. Ports are picked free just before use; hubs bind port 0 and
announce the one they got. Faults a caller can inject:

- :meth:`HubProcess.crash` — ``kill -9`` a hub (and its process group);
- :meth:`RedisServer.stop` then :meth:`RedisServer.start` — Redis gone, back on the same port;
- :meth:`RayHead.stop` then :meth:`RayHead.start` — the Ray cluster gone (detached shard
  actors with it), back on the same GCS port;
- :meth:`PrivatePostgres.restart_immediate` — ``pg_ctl restart -m immediate`` (crash
  recovery from the WAL, every connection dropped).

Blocking calls (PostgreSQL's ``pg_ctl``, waiting for a killed group) run in a thread from the
async methods.
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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hub.auth import TokenIssuer
from storage.cluster import (
    CLUSTER_USER,
    LOG_FILE,
    PGDATA_SUBDIR,
    LocalPostgres,
    LocalPostgresError,
    find_server_bin_dir,
)

SHARD_RESOURCE = "seva_shards"

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SERVING = re.compile(r"Seva Hub is serving on (http://\S+)")
START_TIMEOUT_SECS = 60.0
PG_RESTART_TIMEOUT_SECS = 60
_CHILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return f"--- last {min(lines, len(text))} lines of {path.name}\n" + "\n".join(text[-lines:])


@dataclass
class Process:
    """A child in its own process group, its output appended to ``log``."""

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
        """Signal the whole group (the child and everything it started); SIGKILL also goes to
        every process left in the child's session (Ray's workers run in process groups of
        their own) and reaps the leader."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)
        if sig == signal.SIGKILL:
            for pid in session_members(self.popen.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
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
        return log_tail(self.log)


def session_members(sid: int) -> list[int]:
    """PIDs of the live processes in session ``sid`` (from /proc; empty without it)."""
    members: list[int] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                    stat = f.read()
            except OSError:
                continue
            # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 3 and fields[3] == str(sid) and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


async def wait_for(
    check: Callable[[], Awaitable[bool]], what: str, proc: Process, within: float
) -> None:
    """Poll ``check`` until true; AssertionError (with the log tail) if ``proc`` exits or
    ``within`` seconds pass first."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if not proc.alive:
            raise AssertionError(f"{what}: process exited\n{proc.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not ready in {within} s\n{proc.output()}")
        await asyncio.sleep(0.1)


async def port_open(port: int) -> bool:
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
    """``redis-server`` on a free loopback port, no persistence; ``stop()`` then ``start()``
    brings it back empty on the same port (an outage)."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive

    async def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = Process("redis", argv, self.root / "redis.log", dict(os.environ))
        self.proc.start()
        await wait_for(lambda: port_open(self.port), "redis-server", self.proc, 15.0)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc = None


@dataclass
class RayHead:
    """``ray start --head --block`` with every port chosen here (so parallel runs on one
    machine do not collide on Ray's defaults) and token auth off. ``stop()`` kills the whole
    cluster (detached actors too); ``start()`` again serves the same address."""

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
            # As deployed (deploy/compose.yaml, deploy/k8s): the shard nodes advertise it and
            # the hubs ask for it (SEVA_SHARD_RESOURCE), so the multi-process tests place every
            # shard actor through it.
            f'--resources={{"{SHARD_RESOURCE}": 1000}}',
            f"--object-store-memory={100 * 1024 * 1024}",
            f"--temp-dir={self.root / 'ray'}",
        ]
        env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        env.pop("RAY_ADDRESS", None)
        log = self.root / "ray.log"
        offset = log.stat().st_size if log.exists() else 0
        proc = Process("ray", argv, log, env)
        self.proc = proc
        proc.start()

        async def started() -> bool:
            with log.open(errors="replace") as handle:
                handle.seek(offset)
                return "Ray runtime started" in handle.read()

        await wait_for(started, "ray start --head", proc, START_TIMEOUT_SECS)

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
        """Start the hub; a restart binds the port of the first start, so clients keep their
        URL."""
        log = self.root / f"hub-{self.name}.log"
        port = self.url.rsplit(":", 1)[1] if self.url else "0"
        argv = [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", port]
        proc = Process(f"hub-{self.name}", argv, log, self.env)
        self.proc = proc
        offset = log.stat().st_size if log.exists() else 0
        proc.start()

        async def announced() -> bool:
            with log.open(errors="replace") as handle:
                handle.seek(offset)
                found = SERVING.search(handle.read())
            if found:
                self.url = found.group(1)
            return found is not None

        await wait_for(announced, f"hub {self.name}", proc, START_TIMEOUT_SECS)

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
    """Hubs (named, e.g. ``a`` and ``b``) on one Ray cluster, one Redis and one PostgreSQL.
    ``tokens`` issues access tokens the hubs accept."""

    root: Path
    redis: RedisServer
    ray: RayHead
    hubs: dict[str, HubProcess]
    tokens: TokenIssuer

    def url(self, name: str) -> str:
        return self.hubs[name].url

    def urls(self) -> list[str]:
        return [hub.url for hub in self.hubs.values()]

    async def ensure_hubs(self) -> None:
        """Start every hub that is not running (after a run killed one)."""
        down = [hub for hub in self.hubs.values() if not hub.alive]
        await asyncio.gather(*(hub.start() for hub in down))

    def logs(self) -> str:
        parts = [hub.output() for hub in self.hubs.values()]
        if self.redis.proc is not None:
            parts.append(self.redis.proc.output())
        return "\n".join(parts)

    def stop_hubs(self, *, graceful: bool = True) -> None:
        """Stop every hub: SIGTERM to all at once, then wait (a graceful stop each takes
        seconds); or, not ``graceful``, SIGKILL (when nothing they would finish matters)."""
        for hub in self.hubs.values():
            if hub.proc is not None and hub.proc.alive:
                hub.proc.kill(signal.SIGTERM if graceful else signal.SIGKILL)
        for hub in self.hubs.values():
            hub.stop()

    def stop(self, *, graceful: bool = True) -> None:
        self.stop_hubs(graceful=graceful)
        self.ray.stop()
        self.redis.stop()


def hub_env(
    *,
    dsn: str,
    redis_url: str,
    ray_address: str,
    namespace: str,
    data_dir: Path,
    jwt_secret: str,
    secret_key: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one ``seva serve`` child: the caller's, without any SEVA_/RAY_/
    REDIS_/DATABASE_ variable of its own, plus the cluster's. Limits are raised so a workload
    is not throttled; Redis reconnects within a second."""
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
            "SEVA_SHARD_RESOURCE": SHARD_RESOURCE,
            "SEVA_DATA_DIR": str(data_dir),
            "SEVA_JWT_SECRET": jwt_secret,
            "SEVA_SECRET_KEY": secret_key,
            "SEVA_SOCKET_EVENTS_PER_SEC": "10000",
            "SEVA_SOCKET_BURST": "10000",
            "SEVA_LOGIN_MAX_FAILURES": "1000",
            # Outage runs want reconnects within a second, not the production 5 s cap.
            "SEVA_REDIS_RETRY_MAX_SECS": "0.5",
            "SEVA_REDIS_HEALTH_CHECK_SECS": "1",
            "SEVA_LOG_LEVEL": "INFO",
            **(extra or {}),
        }
    )
    return env


@contextlib.asynccontextmanager
async def hub_cluster(
    dsn: str,
    *,
    jwt_secret: str,
    secret_key: str,
    hub_names: tuple[str, ...] = ("a", "b"),
    extra_env: Mapping[str, str] | None = None,
    graceful_stop: bool = True,
) -> AsyncIterator[HubCluster]:
    """Start Redis and Ray, then the hubs (in parallel); stop everything on exit, whatever
    happened (the hubs with SIGKILL unless ``graceful_stop``). The database at ``dsn`` must be
    migrated; ``extra_env`` adds hub settings."""
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
                jwt_secret=jwt_secret,
                secret_key=secret_key,
                extra=extra_env,
            ),
        )
        for name in hub_names
    }
    cluster = HubCluster(
        root,
        redis,
        ray_head,
        hubs,
        TokenIssuer({"k1": jwt_secret}, active_kid=None, ttl_secs=900),
    )
    try:
        await asyncio.gather(redis.start(), ray_head.start())
        await cluster.ensure_hubs()
        yield cluster
    finally:
        cluster.stop(graceful=graceful_stop)
        shutil.rmtree(root, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of a run's own (``storage.cluster.LocalPostgres`` in a temporary
    directory), so a run may crash it without touching anyone else's database."""

    def __init__(self, root: Path) -> None:
        # fsync off: the faults here crash the server process, never the machine; the kernel
        # keeps what PostgreSQL wrote, and WAL replay runs as after a real crash.
        self._local = LocalPostgres(root / "pg", conf={"fsync": "off", "max_connections": "200"})
        self.dsn = ""

    async def start(self) -> str:
        self.dsn = await asyncio.to_thread(self._local.start)
        return self.dsn

    async def restart_immediate(self) -> None:
        """``pg_ctl restart -m immediate``: the server quits without a checkpoint (every
        connection dropped mid-whatever), then starts again with crash recovery."""
        await asyncio.to_thread(self._pg_ctl, "restart", "--mode=immediate")

    def stop(self) -> None:
        """Stop the server (immediately) and delete its files."""
        cluster_dir = self._local.cluster_dir
        with contextlib.suppress(LocalPostgresError):
            if (cluster_dir / PGDATA_SUBDIR / "postmaster.pid").exists():
                self._pg_ctl("stop", "--mode=immediate")
        shutil.rmtree(cluster_dir, ignore_errors=True)

    def _pg_ctl(self, action: str, mode: str) -> None:
        cluster_dir = self._local.cluster_dir
        argv = [
            str(find_server_bin_dir() / "pg_ctl"),
            action,
            "--pgdata",
            str(cluster_dir / PGDATA_SUBDIR),
            "--log",
            str(cluster_dir / LOG_FILE),
            mode,
            "--wait",
            f"--timeout={PG_RESTART_TIMEOUT_SECS}",
            "--silent",
        ]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; LocalPostgres gave the cluster to this user.
            runuser = shutil.which("runuser", path=_CHILD_PATH) or "/usr/sbin/runuser"
            argv = [runuser, "-u", CLUSTER_USER, "--", *argv]
        result = subprocess.run(
            argv,
            cwd="/",
            env={"PATH": _CHILD_PATH, "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PG_RESTART_TIMEOUT_SECS + 30,
            check=False,
        )
        if result.returncode != 0:
            raise LocalPostgresError(
                f"pg_ctl {action} {mode} failed: {result.stderr.strip() or result.stdout.strip()}"
                f"\n{log_tail(cluster_dir / LOG_FILE, 20)}"
            )


@contextlib.asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres` (empty ``seva`` database, not migrated), stopped and
    deleted on exit."""
    root = Path(tempfile.mkdtemp(prefix="seva-pg-"))
    os.chmod(root, 0o755)  # as root, the cluster runs as `postgres`, who must enter it
    server = PrivatePostgres(root)
    try:
        await server.start()
        yield server
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(root, ignore_errors=True)
