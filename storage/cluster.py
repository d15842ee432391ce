"""A private PostgreSQL cluster for development and tests, run from a data directory we own.

Layout, for a data directory ``D`` given to :class:`LocalPostgres`::

    D/seva-password       password of the ``seva`` role (mode 0600); every run reuses it
    D/port                TCP port of the last successful start; the next start reuses it
    D/cluster-location    written only when we run as root and the ``postgres`` user cannot
                          enter D: the path of the cluster under /var/tmp/seva-pg/
    D/.lock               flock held by start() and stop()
    C/data/               PGDATA, where C is D/pg or the /var/tmp/seva-pg/<hash> fallback
    C/postgres.log        server log (``pg_ctl -l``)

The server listens on 127.0.0.1 only and has no Unix socket. The bootstrap superuser is the
``seva`` role itself (password auth over TCP), and it owns the ``seva`` database.

Errors::

    RuntimeError
     └── LocalPostgresError          initdb/start/stop failed; carries the tail of the server log
          └── PostgresNotInstalled   no initdb/pg_ctl/postgres (or psql) binaries found

Standard library only: bootstrap scripts and the CLI use this before anything else is set up.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import grp
import hashlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

ROLE_NAME = "seva"
DATABASE_NAME = "seva"
LISTEN_HOST = "127.0.0.1"
# initdb and postgres refuse to run as root; as root we hand the cluster to this system user.
CLUSTER_USER = "postgres"
CLUSTER_USER_HOME = "/var/lib/postgresql"

DEFAULT_CONF: Mapping[str, str] = {"max_connections": "200", "shared_buffers": "128MB"}
# These decide where the DSN points; a caller setting them through `conf` would break it.
RESERVED_CONF_KEYS = frozenset({"port", "listen_addresses", "unix_socket_directories"})

FALLBACK_ROOT = Path("/var/tmp/seva-pg")
DEBIAN_LIB_ROOT = Path("/usr/lib/postgresql")

PASSWORD_FILE = "seva-password"
PORT_FILE = "port"
LOCATION_FILE = "cluster-location"
LOCK_FILE = ".lock"
CLUSTER_SUBDIR = "pg"
PGDATA_SUBDIR = "data"
LOG_FILE = "postgres.log"
MANAGED_CONF_FILE = "seva.conf"

LOG_TAIL_LINES = 20
LOG_ROTATE_BYTES = 10 * 1024 * 1024
INITDB_TIMEOUT_SECS = 120
PG_CTL_TIMEOUT_SECS = 60
PSQL_TIMEOUT_SECS = 30
PSQL_CONNECT_TIMEOUT_SECS = 10

NOT_INSTALLED_MESSAGE = (
    "PostgreSQL server binaries not found (initdb/pg_ctl). "
    "Install the Debian package 'postgresql' (apt-get install postgresql)."
)

# Children get a fixed environment: PG* variables in the caller's shell (PGDATA, PGPORT,
# PGHOST, PGUSER...) would silently point pg_ctl and psql at some other cluster.
_CHILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONF_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_FSYNC_OFF_VALUES = frozenset({"off", "false", "no", "0"})


class LocalPostgresError(RuntimeError):
    """The local cluster could not be initialised, started or stopped."""


class PostgresNotInstalled(LocalPostgresError):
    """The PostgreSQL server (or client) binaries are not installed on this machine."""


def find_server_bin_dir(
    *, search_path: str | None = None, lib_root: Path = DEBIAN_LIB_ROOT
) -> Path:
    """Return the directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looks on PATH first (``search_path`` overrides it), then in the newest
    ``<lib_root>/<major>/bin``. Raises :class:`PostgresNotInstalled` if neither has all three.
    """
    candidates: list[Path] = []
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name, path=search_path)
        if found is not None:
            # Debian links e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb; the
            # matching pg_ctl and postgres live next to the target, not next to the link.
            candidates.append(Path(found).resolve().parent)
    candidates.extend(_versioned_bin_dirs(lib_root))
    for bin_dir in candidates:
        if all(_is_executable(bin_dir / name) for name in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    raise PostgresNotInstalled(NOT_INSTALLED_MESSAGE)


def find_psql(bin_dir: Path) -> Path:
    """Return the psql next to the server binaries, else the one on PATH."""
    beside = bin_dir / "psql"
    if _is_executable(beside):
        return beside
    found = shutil.which("psql")
    if found is None:
        raise PostgresNotInstalled(
            f"PostgreSQL client psql not found in {bin_dir} or on PATH. "
            "Install the Debian package 'postgresql' (apt-get install postgresql)."
        )
    return Path(found)


class LocalPostgres:
    """A private PostgreSQL cluster under a data directory, started and stopped by us.

    ``start()`` is idempotent and reuses a server already running from the same directory
    (even one started by another process); ``stop()`` stops it whoever started it. Data
    survives stop/start. ``port`` and ``conf`` apply when this call actually starts the
    server; a reused server keeps the settings it was started with. ``start()`` and
    ``stop()`` block (subprocesses, up to a minute): call them from a thread in async code.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        conf: Mapping[str, str] | None = None,
    ) -> None:
        # resolve(): two spellings of one directory must map to one cluster (and one fallback).
        self._data_dir = Path(data_dir).resolve()
        self._requested_port = port
        self._conf = {**DEFAULT_CONF, **(conf or {})}
        for key in self._conf:
            if not _CONF_KEY.match(key):
                raise ValueError(f"invalid PostgreSQL setting name: {key!r}")
            if key in RESERVED_CONF_KEYS:
                raise ValueError(f"{key!r} is managed by LocalPostgres; use the port argument")
        self._as_root = os.geteuid() == 0
        self._dsn: str | None = None
        self._port: int | None = None

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def dsn(self) -> str:
        """``postgresql://seva:<password>@127.0.0.1:<port>/seva``; set by ``start()``."""
        if self._dsn is None:
            raise LocalPostgresError("LocalPostgres.dsn is known only after start()")
        return self._dsn

    @property
    def port(self) -> int:
        if self._port is None:
            raise LocalPostgresError("LocalPostgres.port is known only after start()")
        return self._port

    @property
    def cluster_dir(self) -> Path:
        """Directory holding PGDATA and the log: ``data_dir/pg`` or the recorded fallback.

        Before the first ``start()`` as root this may not yet reflect the fallback decision.
        """
        return self._recorded_cluster_dir() or self._data_dir / CLUSTER_SUBDIR

    def start(self) -> str:
        """Create the cluster if needed, start it unless running, ensure role and database.

        Returns the DSN. Raises :class:`PostgresNotInstalled` without binaries and
        :class:`LocalPostgresError` (with the log's last lines) if the server fails.
        """
        bin_dir = find_server_bin_dir()
        psql = find_psql(bin_dir)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            cluster_dir = self._locate_cluster_dir(bin_dir)
            pgdata = cluster_dir / PGDATA_SUBDIR
            log_file = cluster_dir / LOG_FILE
            initialised = (pgdata / "PG_VERSION").is_file()
            password = self._read_or_create_password(cluster_dir, initialised=initialised)
            if not initialised:
                self._initdb(bin_dir, cluster_dir, password)

            running_pid = _live_postmaster_pid(pgdata)
            if running_pid is not None:
                port = _postmaster_port(pgdata)
            else:
                port = self._choose_port()
                self._write_managed_conf(pgdata, port)
                _rotate_log(log_file)
                self._pg_ctl_start(bin_dir, pgdata, log_file)

            (self._data_dir / PORT_FILE).write_text(f"{port}\n")
            self._ensure_database(psql, port, password, log_file)
            self._port = port
            self._dsn = f"postgresql://{ROLE_NAME}:{password}@{LISTEN_HOST}:{port}/{DATABASE_NAME}"
            return self._dsn

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``); a no-op if it is not running."""
        if not self._data_dir.is_dir():
            return
        with self._locked():
            pgdata = self.cluster_dir / PGDATA_SUBDIR
            if _live_postmaster_pid(pgdata) is None:
                return
            self._pg_ctl_stop(find_server_bin_dir(), pgdata, self.cluster_dir / LOG_FILE)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where the cluster lives ------------------------------------------------------------

    def _recorded_cluster_dir(self) -> Path | None:
        try:
            recorded = (self._data_dir / LOCATION_FILE).read_text().strip()
        except FileNotFoundError:
            return None
        return Path(recorded) if recorded else None

    def _locate_cluster_dir(self, bin_dir: Path) -> Path:
        """Pick (and create, owned by the cluster user) the directory for PGDATA and the log."""
        recorded = self._recorded_cluster_dir()
        if recorded is not None:
            self._prepare_cluster_dir(recorded)
            return recorded
        default = self._data_dir / CLUSTER_SUBDIR
        if default.exists() or not self._as_root or self._cluster_user_can_enter(self._data_dir):
            self._prepare_cluster_dir(default)
            return default

        # Root, and `postgres` cannot reach data_dir (a checkout under /root or a 0700
        # mktemp dir): keep the cluster where it can, and leave a pointer so reruns find it.
        digest = hashlib.sha256(str(self._data_dir).encode()).hexdigest()[:16]
        fallback = FALLBACK_ROOT / digest
        if fallback.exists():
            # No pointer but a cluster for this path: data_dir was deleted (`make reset-demo`)
            # and recreated. Its password is gone with it, so that cluster is unusable.
            self._discard_cluster(bin_dir, fallback)
        FALLBACK_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        root_stat = FALLBACK_ROOT.stat()
        if root_stat.st_uid != 0:
            # /var/tmp is world-writable; someone else could have planted this directory.
            raise LocalPostgresError(
                f"unsafe: {FALLBACK_ROOT} is owned by uid {root_stat.st_uid}, not root; "
                "remove it and retry"
            )
        FALLBACK_ROOT.chmod(0o755)
        self._prepare_cluster_dir(fallback)
        (self._data_dir / LOCATION_FILE).write_text(f"{fallback}\n")
        return fallback

    def _cluster_user_can_enter(self, path: Path) -> bool:
        # Asking the kernel as that user is the only check that also honours ACLs and groups.
        test = shutil.which("test", path=_CHILD_PATH) or "/usr/bin/test"
        result = self._run([test, "-x", str(path)], as_cluster_user=True, timeout=30)
        return result.returncode == 0

    def _prepare_cluster_dir(self, cluster_dir: Path) -> None:
        cluster_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._as_root:
            owner = self._cluster_owner()
            os.chown(cluster_dir, owner.pw_uid, owner.pw_gid)
        cluster_dir.chmod(0o700)

    def _discard_cluster(self, bin_dir: Path, cluster_dir: Path) -> None:
        pgdata = cluster_dir / PGDATA_SUBDIR
        if _live_postmaster_pid(pgdata) is not None:
            self._pg_ctl_stop(bin_dir, pgdata, cluster_dir / LOG_FILE)
        shutil.rmtree(cluster_dir)

    def _cluster_owner(self) -> pwd.struct_passwd:
        """The `postgres` system user, created if this machine lacks it."""
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(CLUSTER_USER)
        try:
            grp.getgrnam(CLUSTER_USER)
            group_args = ["-g", CLUSTER_USER]
        except KeyError:
            group_args = ["--user-group"]
        useradd = shutil.which("useradd", path=_CHILD_PATH) or "useradd"
        result = self._run(
            [
                useradd,
                "--system",
                *group_args,
                "--home-dir",
                CLUSTER_USER_HOME,
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                CLUSTER_USER,
            ],
            timeout=30,
        )
        if result.returncode != 0:
            raise LocalPostgresError(
                f"could not create system user {CLUSTER_USER!r}: {_output(result)}"
            )
        return pwd.getpwnam(CLUSTER_USER)

    # -- files in data_dir ------------------------------------------------------------------

    def _read_or_create_password(self, cluster_dir: Path, *, initialised: bool) -> str:
        path = self._data_dir / PASSWORD_FILE
        try:
            password = path.read_text().strip()
        except FileNotFoundError:
            if initialised:
                raise LocalPostgresError(
                    f"the cluster in {cluster_dir} exists but its password file {path} is "
                    f"missing; delete {cluster_dir} to start a fresh cluster"
                ) from None
            # token_urlsafe: only unreserved URL characters, so the DSN needs no escaping.
            password = secrets.token_urlsafe(24)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{password}\n")
            return password
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        if not password:
            raise LocalPostgresError(f"password file {path} is empty")
        return password

    def _choose_port(self) -> int:
        if self._requested_port is not None:
            return self._requested_port
        with contextlib.suppress(FileNotFoundError, ValueError):
            recorded = int((self._data_dir / PORT_FILE).read_text().strip())
            if _port_is_free(recorded):
                return recorded
        return _pick_free_port()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # A dev server and a test run may start the same cluster at once; without the lock
        # they would race initdb and the port choice.
        with (self._data_dir / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- talking to the PostgreSQL binaries -------------------------------------------------

    def _initdb(self, bin_dir: Path, cluster_dir: Path, password: str) -> None:
        # initdb into a staging directory and rename it on success: an interrupted initdb
        # then never looks like a usable cluster on the next run.
        target = cluster_dir / PGDATA_SUBDIR
        if target.exists() and any(target.iterdir()):
            raise LocalPostgresError(
                f"{target} is not empty but holds no PostgreSQL cluster (no PG_VERSION); "
                "move it away to let a fresh cluster be created"
            )
        staging = cluster_dir / f"{PGDATA_SUBDIR}.initdb"
        if staging.exists():
            shutil.rmtree(staging)
        pwfile = cluster_dir / "initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{password}\n")
        self._give_to_cluster_user(pwfile)
        argv = [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(staging),
            # The superuser *is* the seva role: no second password to keep, and the role
            # exists as soon as initdb succeeds.
            "--username",
            ROLE_NAME,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            # C locale: the caller's LANG may name a locale this machine has not generated.
            "--no-locale",
        ]
        if self._conf.get("fsync", "on").strip().lower() in _FSYNC_OFF_VALUES:
            # A caller that runs without fsync accepts losing the cluster on a crash anyway.
            argv.append("--no-sync")
        try:
            result = self._run(argv, as_cluster_user=True, timeout=INITDB_TIMEOUT_SECS)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LocalPostgresError(f"initdb failed in {staging}:\n{_output(result)}")
        with (staging / "postgresql.conf").open("a") as handle:
            handle.write(
                "\n# Rewritten on every start by storage/cluster.py (LocalPostgres conf=...).\n"
                f"include = '{MANAGED_CONF_FILE}'\n"
            )
        staging.replace(target)  # target is absent or an empty directory

    def _write_managed_conf(self, pgdata: Path, port: int) -> None:
        lines = [
            "# Written by storage/cluster.py on every start; edits here are overwritten.",
            *(f"{key} = {_quote_conf_value(value)}" for key, value in self._conf.items()),
            f"listen_addresses = '{LISTEN_HOST}'",
            f"port = {port}",
            # No Unix socket: socket paths are limited to ~107 bytes and need a directory the
            # cluster user can write. Loopback TCP serves us, psql and `pg_ctl -w` alike.
            "unix_socket_directories = ''",
        ]
        target = pgdata / MANAGED_CONF_FILE
        staging = pgdata / f"{MANAGED_CONF_FILE}.tmp"
        staging.write_text("\n".join(lines) + "\n")
        self._give_to_cluster_user(staging)
        os.replace(staging, target)

    def _pg_ctl_start(self, bin_dir: Path, pgdata: Path, log_file: Path) -> None:
        argv = [
            str(bin_dir / "pg_ctl"),
            "start",
            "--pgdata",
            str(pgdata),
            "--log",
            str(log_file),
            "--wait",
            f"--timeout={PG_CTL_TIMEOUT_SECS}",
            "--silent",
        ]
        result = self._run(argv, as_cluster_user=True, timeout=PG_CTL_TIMEOUT_SECS + 30)
        if result.returncode != 0:
            raise LocalPostgresError(
                f"PostgreSQL did not start from {pgdata} ({_output(result)})\n{_log_tail(log_file)}"
            )

    def _pg_ctl_stop(self, bin_dir: Path, pgdata: Path, log_file: Path) -> None:
        argv = [
            str(bin_dir / "pg_ctl"),
            "stop",
            "--pgdata",
            str(pgdata),
            "--mode=fast",
            "--wait",
            f"--timeout={PG_CTL_TIMEOUT_SECS}",
            "--silent",
        ]
        result = self._run(argv, as_cluster_user=True, timeout=PG_CTL_TIMEOUT_SECS + 30)
        if result.returncode != 0 and _live_postmaster_pid(pgdata) is not None:
            raise LocalPostgresError(
                f"PostgreSQL in {pgdata} did not stop ({_output(result)})\n{_log_tail(log_file)}"
            )

    def _ensure_database(self, psql: Path, port: int, password: str, log_file: Path) -> None:
        """Create the seva database if missing; doubles as the TCP + password check."""
        maintenance_dsn = f"postgresql://{ROLE_NAME}@{LISTEN_HOST}:{port}/postgres"

        def run_sql(sql: str) -> str:
            result = self._run(
                [
                    str(psql),
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    maintenance_dsn,
                    "-c",
                    sql,
                ],
                timeout=PSQL_TIMEOUT_SECS,
                # Through the environment, not the command line, which `ps` shows to everyone.
                extra_env={
                    "PGPASSWORD": password,
                    "PGCONNECT_TIMEOUT": str(PSQL_CONNECT_TIMEOUT_SECS),
                },
            )
            if result.returncode != 0:
                raise LocalPostgresError(
                    f"PostgreSQL on {LISTEN_HOST}:{port} refused {sql!r} ({_output(result)})\n"
                    f"{_log_tail(log_file)}"
                )
            return result.stdout.strip()

        exists = run_sql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'")
        if exists != "1":
            run_sql(f"CREATE DATABASE {DATABASE_NAME} OWNER {ROLE_NAME}")

    def _give_to_cluster_user(self, path: Path) -> None:
        if self._as_root:
            owner = self._cluster_owner()
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def _run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        as_cluster_user: bool = False,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if as_cluster_user and self._as_root:
            runuser = shutil.which("runuser", path=_CHILD_PATH)
            if runuser is None:
                raise LocalPostgresError("runuser (util-linux) is needed to run PostgreSQL as root")
            command = [runuser, "-u", CLUSTER_USER, "--", *command]
        try:
            return subprocess.run(
                command,
                # cwd "/": the cluster user may be unable to enter the caller's cwd (/root),
                # which initdb and postgres complain about.
                cwd="/",
                env={"PATH": _CHILD_PATH, "LC_ALL": "C", **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalPostgresError(
                f"{Path(argv[0]).name} did not finish within {timeout} s"
            ) from exc


def _live_postmaster_pid(pgdata: Path) -> int | None:
    """PID of the postmaster running from ``pgdata``, or None.

    Removes a postmaster.pid whose PID is a zombie or now belongs to an unrelated process.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        first_line = pid_file.read_text().split("\n", 1)[0]
    except FileNotFoundError:
        return None
    try:
        pid = int(first_line)
    except ValueError:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # stale file; pg_ctl and postgres recover from it themselves
    except PermissionError:
        pass  # alive, owned by another user
    if not Path("/proc/self/stat").exists():
        return pid  # no procfs to ask; trust the signal probe
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None  # exited since the probe
    # Format: "pid (comm) state ...", where comm may itself contain spaces and parentheses.
    name = stat[stat.find("(") + 1 : stat.rfind(")")]
    state = stat[stat.rfind(")") + 1 :].split()[0]
    if name not in {"postgres", "postmaster"} or state in {"Z", "X"}:
        # The file is stale, yet postgres would refuse to start over it ("lock file already
        # exists") and pg_ctl stop would signal that PID. Two ways to get here: after a
        # container restart the PID belongs to an unrelated process; or the postmaster died
        # and lingers as a zombie because PID 1 in this container does not reap orphans.
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def _postmaster_port(pgdata: Path) -> int:
    # postmaster.pid line 4 is the port (see PostgreSQL's pidfile.h, LOCK_FILE_LINE_PORT).
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    try:
        return int(lines[3])
    except (IndexError, ValueError) as exc:
        raise LocalPostgresError(f"cannot read the port from {pgdata}/postmaster.pid") from exc


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Postgres binds with SO_REUSEADDR, so TIME_WAIT leftovers do not block it; only a
        # live listener does. Probe the same way.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LISTEN_HOST, port))
        except OSError:
            return False
    return True


def _pick_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LISTEN_HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def _rotate_log(log_file: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if log_file.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(log_file, log_file.with_name(f"{log_file.name}.1"))


def _log_tail(log_file: Path) -> str:
    try:
        with log_file.open(errors="replace") as handle:
            tail = collections.deque(handle, maxlen=LOG_TAIL_LINES)
    except OSError as exc:
        return f"(no server log at {log_file}: {exc.strerror})"
    return f"Last {len(tail)} lines of {log_file}:\n" + "".join(tail).rstrip("\n")


def _output(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr.strip() or result.stdout.strip()) or "no output"
    return f"exit {result.returncode}: {text}"


def _quote_conf_value(value: str) -> str:
    # postgresql.conf accepts every value quoted; doubling quotes is its escape.
    return "'" + value.replace("'", "''") + "'"


def _versioned_bin_dirs(lib_root: Path) -> list[Path]:
    """``<lib_root>/<version>/bin`` directories, newest version first."""
    found: list[tuple[tuple[int, ...], Path]] = []
    with contextlib.suppress(OSError):
        for version_dir in lib_root.iterdir():
            try:
                version = tuple(int(part) for part in version_dir.name.split("."))
            except ValueError:
                continue
            found.append((version, version_dir / "bin"))
    return [bin_dir for _, bin_dir in sorted(found, reverse=True)]


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
