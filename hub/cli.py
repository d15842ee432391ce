"""The ``seva`` command: serve, migrate, demo-seed, bench."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Sequence

import asyncpg
from aiohttp import web

from hub.settings import Settings

log = logging.getLogger("seva")


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


async def _demo_seed(settings: Settings) -> None:
    async with database(settings) as dsn:
        await _seed(dsn)
    print("demo data seeded")


async def _serve(settings: Settings) -> None:
    from hub.app import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with database(settings) as dsn:
        if settings.demo:
            await _seed(dsn)
        runner = web.AppRunner(create_app(settings, dsn=dsn), handle_signals=False)
        await runner.setup()
        # ray.init (during setup) installs its own SIGTERM handler that exits at once; ours
        # must win so that Ctrl-C and SIGTERM stop the hub, Ray and PostgreSQL in order.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            site = web.TCPSite(runner, settings.host, settings.port)
            await site.start()
            _announce(settings, runner)
            await stop.wait()
            print("stopping ...", flush=True)
        finally:
            await runner.cleanup()
    print("stopped", flush=True)


def _announce(settings: Settings, runner: web.AppRunner) -> None:
    host, port = settings.host, settings.port
    for address in runner.addresses:
        if isinstance(address, tuple):
            host, port = address[0], address[1]
            break
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
    ledger = sub.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger", required=True)
    verify = ledger_sub.add_parser("verify", help="check the ledger's invariants")
    verify.add_argument("--json", action="store_true", help="last line: one JSON object")
    bench = sub.add_parser("bench", help="benchmarks (print a JSON line last)")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    from hub.bench.contention import add_arguments

    add_arguments(bench_sub.add_parser("contention", help="holds racing for few slots"))
    from hub.bench.wallet import add_arguments as add_wallet_arguments

    add_wallet_arguments(
        bench_sub.add_parser("wallet", help="concurrent debits on a hot wallet and on many")
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
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "serve":
        asyncio.run(_serve(settings))
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "demo-seed":
        asyncio.run(_demo_seed(settings))
    elif args.command == "emulate":
        from protocols.gateways.emulators.serve import main as emulate_main

        return emulate_main(args.args)
    elif args.command == "ledger":
        return asyncio.run(_ledger_verify(settings, as_json=args.json))
    elif args.command == "bench" and args.bench == "wallet":
        from hub.bench.wallet import run_from_args as run_wallet_bench

        return run_wallet_bench(settings, args)
    elif args.command == "bench":
        from hub.bench.contention import run_from_args

        return run_from_args(settings, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
