"""The ``seva`` command: serve, migrate, demo-seed, bench."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import SecretStr

from hub.settings import Settings

if TYPE_CHECKING:
    from storage.gateway_credentials import DemoGatewayAccount

log = logging.getLogger("seva")

SECRET_KEY_FILE = "secret-key"


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[str]:
    """``DATABASE_URL`` if set; otherwise the embedded default, a private PostgreSQL cluster
    under ``SEVA_DATA_DIR`` that we start now and stop on exit (its data is kept)."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    from storage.cluster import LocalPostgres

    cluster = LocalPostgres(settings.data_dir.resolve())
    print(f"starting private PostgreSQL under {settings.data_dir.resolve()} ...", flush=True)
    dsn = await asyncio.to_thread(cluster.start)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(cluster.stop)


def resolve_secret_key(settings: Settings) -> SecretStr | None:
    """The key that seals gateway credentials: ``SEVA_SECRET_KEY`` if set; on the embedded
    default, the one kept in ``SEVA_DATA_DIR/secret-key`` (made on first use, mode 0600, so
    that a restart can still decrypt); with an external ``DATABASE_URL`` and no key, ``None``:
    the hub then refuses to store credentials, and to start if some are stored.

    Raises ``ValueError`` naming the source of a key that is not base64 of 32 bytes (never
    the key itself)."""
    from protocols.secretbox import decode_key

    if settings.secret_key is not None:
        try:
            decode_key(settings.secret_key.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"SEVA_SECRET_KEY: {exc}") from None
        return settings.secret_key
    if settings.database_url is not None:
        return None
    path = settings.data_dir.resolve() / SECRET_KEY_FILE
    key = _read_or_create_key(path)
    try:
        decode_key(key)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return SecretStr(key)


def _read_or_create_key(path: Path) -> str:
    from protocols.secretbox import generate_key

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()
    key = generate_key()
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{key}\n")
    return key


async def _migrate(settings: Settings) -> None:
    from storage.migrate import apply_migrations

    async with database(settings) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            applied = await apply_migrations(conn)
        finally:
            await conn.close()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))


async def _seed(dsn: str) -> None:
    from hub.auth import Passwords
    from storage.demo import seed_demo
    from storage.migrate import apply_migrations

    passwords = Passwords()
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
        await seed_demo(conn, hash_password=passwords.hash)
    finally:
        await conn.close()


async def _reconcile(settings: Settings, *, older_than_secs: float | None) -> int:
    """One reconciliation round through a hub app that serves nothing (same wiring)."""
    import json

    from hub import keys
    from hub.app import create_app

    async with database(settings) as dsn:
        runner = web.AppRunner(
            create_app(settings, dsn=dsn, secret_key=resolve_secret_key(settings)),
            handle_signals=False,
        )
        await runner.setup()
        try:
            changed = await runner.app[keys.PAYMENTS].reconcile_once(
                older_than_secs=(
                    settings.reconcile_after_secs if older_than_secs is None else older_than_secs
                )
            )
        finally:
            await runner.cleanup()
    print(json.dumps({"reconciled": changed}))
    return 0


async def _outbox_retry(
    settings: Settings, *, status: str, ids: list[UUID] | None, tenant_id: UUID | None
) -> int:
    """Requeue deliveries; the running hubs' workers send them."""
    import json

    from storage import deliveries

    async with database(settings) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            done = await deliveries.requeue(conn, ids=ids, statuses=(status,), tenant_id=tenant_id)
        finally:
            await conn.close()
    print(json.dumps({"requeued": len(done), "ids": [str(i) for i in done]}))
    return 0


async def _ledger_verify(settings: Settings, *, as_json: bool) -> int:
    """Exit status 1 and a readable report naming each violated invariant."""
    import json

    from storage.ledger_verify import verify_ledger

    async with database(settings) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            report = await verify_ledger(conn)
        finally:
            await conn.close()
    for name, check in report["checks"].items():
        print(f"{'ok  ' if check['ok'] else 'FAIL'} {name}")
        for row in check["rows"]:
            print(f"       {row}")
    print(f"{report['violations']} violation(s)")
    if as_json:
        summary = {name: check["ok"] for name, check in report["checks"].items()}
        print(json.dumps({"violations": report["violations"], "checks": summary}))
    return 1 if report["violations"] else 0


async def _verify(settings: Settings, *, as_json: bool, grace_secs: float) -> int:
    """Every invariant (slots, ledger, payments, streams, outbox): exit status 1 and a
    readable report naming each violation; with ``as_json`` the last line is one JSON object
    ``{"violations": N, "checks": {name: {"ok", "violations", "details"}}}``."""
    import json

    from storage.verify import verify_all

    async with database(settings) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            report = await verify_all(conn, grace_secs=grace_secs)
        finally:
            await conn.close()
    for name, check in report["checks"].items():
        status = "ok  " if check["ok"] else "FAIL"
        print(f"{status} {name}" + ("" if check["ok"] else f" ({check['violations']})"))
        for finding in check["details"]:
            print(f"       {finding}")
    print(f"{report['violations']} violation(s)")
    if as_json:
        print(json.dumps(report, default=str))
    return 1 if report["violations"] else 0


async def _demo_seed(settings: Settings) -> None:
    async with database(settings) as dsn:
        await _seed(dsn)
    print("demo data seeded")


@dataclass(frozen=True)
class DemoEmulators:
    """The gateway emulators ``seva serve --demo`` runs in-process, and the demo tenants'
    merchant accounts at them."""

    urls: Mapping[str, str]
    accounts: Sequence[DemoGatewayAccount]

    async def register_merchants(self, hub_url: str | None) -> None:
        """Upsert every demo merchant at its emulator, its webhooks going to the hub's routes
        ``/api/v1/webhooks/<gateway>/<tenant_id>`` under ``hub_url`` (none while unknown)."""
        import aiohttp

        async with aiohttp.ClientSession(raise_for_status=True) as http:
            for account in self.accounts:
                webhook_url = (
                    f"{hub_url}/api/v1/webhooks/{account.gateway}/{account.tenant_id}"
                    if hub_url
                    else None
                )
                merchant: dict[str, str | None]
                if account.gateway == "razorpay":
                    merchant = {
                        "key_id": account.key_id,
                        "key_secret": account.key_secret,
                        "webhook_secret": account.webhook_secret,
                        "webhook_url": webhook_url,
                    }
                else:
                    merchant = {
                        "client_id": account.key_id,
                        "client_secret": account.key_secret,
                        "webhook_url": webhook_url,
                    }
                url = f"{self.urls[account.gateway]}/_emulator/merchants"
                async with http.post(url, json=merchant):
                    pass


@contextlib.asynccontextmanager
async def demo_emulators(dsn: str, secret_key: SecretStr) -> AsyncIterator[DemoEmulators]:
    """Start both gateway emulators on free loopback ports and point every demo tenant's
    ``tenant_gateways`` rows at them (Razorpay first); stop them on exit. Their state is in
    memory: every start has fresh emulators on new ports, and the rows follow."""
    from protocols.gateways.emulators import (
        CashfreeEmulatorConfig,
        RazorpayEmulatorConfig,
        create_cashfree_emulator,
        create_razorpay_emulator,
        run_emulator,
    )
    from protocols.secretbox import SecretBox
    from storage.demo import DEMO_TENANTS
    from storage.gateway_credentials import seed_demo_gateways

    box = SecretBox.from_base64(secret_key.get_secret_value())
    async with (
        run_emulator(create_razorpay_emulator(RazorpayEmulatorConfig())) as razorpay_url,
        run_emulator(create_cashfree_emulator(CashfreeEmulatorConfig())) as cashfree_url,
    ):
        urls = {"razorpay": razorpay_url, "cashfree": cashfree_url}
        conn = await asyncpg.connect(dsn)
        try:
            accounts = await seed_demo_gateways(
                conn, box, slugs=[t.slug for t in DEMO_TENANTS], emulator_urls=urls
            )
        finally:
            await conn.close()
        yield DemoEmulators(urls=urls, accounts=accounts)


def _loopback_url(host: str, port: int) -> str:
    """How a process on this machine reaches the hub (wildcard binds answer on 127.0.0.1)."""
    if host in ("", "0.0.0.0", "::", "localhost"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(settings: Settings) -> None:
    from hub.app import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with database(settings) as dsn, contextlib.AsyncExitStack() as demo_stack:
        secret_key = resolve_secret_key(settings)
        emulators: DemoEmulators | None = None
        if settings.demo:
            await _seed(dsn)
            if secret_key is None:
                log.warning(
                    "demo payment gateways are off: with DATABASE_URL set, SEVA_SECRET_KEY is "
                    "needed to store their credentials"
                )
            else:
                emulators = await demo_stack.enter_async_context(demo_emulators(dsn, secret_key))
                await emulators.register_merchants(
                    _loopback_url(settings.host, settings.port) if settings.port else None
                )
        runner = web.AppRunner(
            create_app(settings, dsn=dsn, secret_key=secret_key), handle_signals=False
        )
        await runner.setup()
        # ray.init (during setup) installs its own SIGTERM handler that exits at once; ours
        # must win so that Ctrl-C and SIGTERM stop the hub, Ray and PostgreSQL in order.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            site = web.TCPSite(runner, settings.host, settings.port)
            await site.start()
            host, port = _bound(settings, runner)
            if emulators is not None and port != settings.port:
                await emulators.register_merchants(_loopback_url(host, port))
            _announce(settings, runner, emulators)
            await stop.wait()
            print("stopping ...", flush=True)
        finally:
            await runner.cleanup()
    print("stopped", flush=True)


def serve_loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop for ``seva serve`` (faster sockets and timers), unless
    ``SEVA_UVLOOP=false`` or uvloop is not installed (then asyncio's default: ``None``)."""
    if not settings.uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        log.info("uvloop is not installed: serving on asyncio's default event loop")
        return None
    return uvloop.new_event_loop


def _bound(settings: Settings, runner: web.AppRunner) -> tuple[str, int]:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return address[0], address[1]
    return settings.host, settings.port


def _announce(
    settings: Settings, runner: web.AppRunner, emulators: DemoEmulators | None = None
) -> None:
    host, port = _bound(settings, runner)
    url = f"http://{host}:{port}"
    print(f"Seva Hub is serving on {url}  (Socket.IO at {url}/socket.io/)", flush=True)
    if settings.demo:
        from storage.demo import (
            DEMO_ROLES,
            DEMO_TENANTS,
            PLATFORM_ADMIN_EMAIL,
            demo_email,
            demo_password,
        )

        print(f"demo data: GET {url}/api/v1/demo", flush=True)
        print("demo logins (POST /api/v1/auth/login):", flush=True)
        for tenant in DEMO_TENANTS:
            for role in DEMO_ROLES:
                email = demo_email(role, tenant.slug)
                print(f"  {role:<14} {email:<42} {demo_password(role)}", flush=True)
        admin = demo_password("platform_admin")
        print(f"  {'platform_admin':<14} {PLATFORM_ADMIN_EMAIL:<42} {admin}", flush=True)
        if emulators is not None:
            print("gateway emulators (to pay: POST <url>/_emulator/orders/<id>/pay):", flush=True)
            for name, emulator_url in emulators.urls.items():
                print(f"  {name:<14} {emulator_url}", flush=True)
    print("press Ctrl-C to stop", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seva", description="Seva Hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub")
    serve.add_argument("--demo", action="store_true", help="seed demo data, serve /api/v1/demo")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("demo-seed", help="create or top up the demo data")
    emulate = sub.add_parser(
        "emulate",
        help="run a local Razorpay or Cashfree emulator (seva emulate razorpay --help)",
        add_help=False,
    )
    emulate.add_argument("args", nargs=argparse.REMAINDER)
    payments = sub.add_parser("payments", help="payment tools")
    payments_sub = payments.add_subparsers(dest="payments", required=True)
    reconcile = payments_sub.add_parser(
        "reconcile", help="poll the gateways once for payments waiting too long"
    )
    reconcile.add_argument("--older-than-secs", type=float, default=None)
    outbox = sub.add_parser("outbox", help="notification delivery tools")
    outbox_sub = outbox.add_subparsers(dest="outbox", required=True)
    retry = outbox_sub.add_parser(
        "retry", help="send dead (or failed, or skipped) deliveries again; prints one JSON line"
    )
    retry.add_argument(
        "--status",
        choices=("dead", "failed", "skipped_insufficient_credits"),
        default="dead",
    )
    retry.add_argument("--id", dest="ids", action="append", type=UUID, help="only these (repeat)")
    retry.add_argument("--tenant-id", type=UUID, default=None)
    ledger = sub.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger", required=True)
    verify = ledger_sub.add_parser("verify", help="check the ledger's invariants")
    verify.add_argument("--json", action="store_true", help="last line: one JSON object")
    check_all = sub.add_parser(
        "verify", help="check every invariant (slots, ledger, payments, streams, outbox)"
    )
    check_all.add_argument("--json", action="store_true", help="last line: one JSON object")
    check_all.add_argument(
        "--grace-secs",
        type=float,
        default=60.0,
        help="work younger (or overdue by less) than this is in flight, not stuck",
    )
    bench = sub.add_parser("bench", help="benchmarks (print a JSON line last)")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    from hub.bench.contention import add_arguments

    add_arguments(bench_sub.add_parser("contention", help="holds racing for few slots"))
    from hub.bench.wallet import add_arguments as add_wallet_arguments

    add_wallet_arguments(
        bench_sub.add_parser("wallet", help="concurrent debits on a hot wallet and on many")
    )
    from hub.bench.fanout import add_arguments as add_fanout_arguments

    add_fanout_arguments(
        bench_sub.add_parser("fanout", help="availability deltas to thousands of subscribers")
    )
    from hub.bench.report import add_arguments as add_report_arguments

    add_report_arguments(
        bench_sub.add_parser(
            "all", help="every bench over a sweep of load: results JSON and PNG plots"
        )
    )
    from hub.chaos.cli import add_arguments as add_chaos_arguments

    add_chaos_arguments(
        sub.add_parser("chaos", help="seeded fault-injection scenarios (print a JSON line last)")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, object] = {}
    if args.command == "serve":
        if args.demo:
            overrides["demo"] = True
        if args.host is not None:
            overrides["host"] = args.host
        if args.port is not None:
            overrides["port"] = args.port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if args.command == "serve":  # masked lines with request context (README "Observability")
        from hub.logs import configure_logging

        configure_logging(settings.log_format, settings.log_level)
    else:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    if args.command == "serve":
        with asyncio.Runner(loop_factory=serve_loop_factory(settings)) as runner:
            runner.run(_serve(settings))
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "demo-seed":
        asyncio.run(_demo_seed(settings))
    elif args.command == "emulate":
        from protocols.gateways.emulators.serve import main as emulate_main

        return emulate_main(args.args)
    elif args.command == "payments":
        return asyncio.run(_reconcile(settings, older_than_secs=args.older_than_secs))
    elif args.command == "outbox":
        return asyncio.run(
            _outbox_retry(settings, status=args.status, ids=args.ids, tenant_id=args.tenant_id)
        )
    elif args.command == "ledger":
        return asyncio.run(_ledger_verify(settings, as_json=args.json))
    elif args.command == "verify":
        return asyncio.run(_verify(settings, as_json=args.json, grace_secs=args.grace_secs))
    elif args.command == "chaos":
        from hub.chaos.cli import run_from_args as run_chaos

        return run_chaos(settings, args)
    elif args.command == "bench" and args.bench == "wallet":
        from hub.bench.wallet import run_from_args as run_wallet_bench

        return run_wallet_bench(settings, args)
    elif args.command == "bench" and args.bench == "all":
        from hub.bench.report import run_from_args as run_bench_report

        return run_bench_report(settings, args)
    elif args.command == "bench" and args.bench == "fanout":
        from hub.bench.fanout import run_from_args as run_fanout_bench

        return run_fanout_bench(settings, args)
    elif args.command == "bench":
        from hub.bench.contention import run_from_args

        return run_from_args(settings, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
