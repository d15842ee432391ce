"""Run one emulator as a process: ``python -m protocols.gateways.emulators razorpay|cashfree``
(and the entry point for a ``seva emulate`` command: :func:`main` takes ``argv``).

::

    python -m protocols.gateways.emulators razorpay --port 9101 \\
        --merchant rzp_test_key:key_secret:webhook_secret \\
        --webhook-url http://127.0.0.1:8080/api/v1/payments/webhooks/razorpay
    python -m protocols.gateways.emulators cashfree --port 9102 --merchant client_id:secret

Once listening it prints one JSON line, ``{"gateway": ..., "url": "http://127.0.0.1:PORT"}``
(``--port 0`` picks a free port), and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from protocols.gateways.emulators.cashfree import (
    CashfreeEmulatorConfig,
    CashfreeMerchant,
    create_cashfree_emulator,
)
from protocols.gateways.emulators.common import run_emulator
from protocols.gateways.emulators.razorpay import (
    RazorpayEmulatorConfig,
    RazorpayMerchant,
    create_razorpay_emulator,
)


def build_app(gateway: str, merchants: Sequence[str], webhook_url: str | None) -> web.Application:
    """The emulator app for ``gateway`` with ``merchants`` given as ``id:secret[:webhook
    secret]`` strings. Raises ``ValueError`` for a malformed merchant."""
    if gateway == "razorpay":
        razorpay_merchants = []
        for spec in merchants:
            parts = spec.split(":")
            if len(parts) != 3:
                raise ValueError(f"razorpay merchant {spec!r}: key_id:key_secret:webhook_secret")
            razorpay_merchants.append(
                RazorpayMerchant(
                    key_id=parts[0],
                    key_secret=parts[1],
                    webhook_secret=parts[2],
                    webhook_url=webhook_url,
                )
            )
        return create_razorpay_emulator(RazorpayEmulatorConfig(merchants=tuple(razorpay_merchants)))
    cashfree_merchants = []
    for spec in merchants:
        parts = spec.split(":")
        if len(parts) != 2:
            raise ValueError(f"cashfree merchant {spec!r}: client_id:client_secret")
        cashfree_merchants.append(
            CashfreeMerchant(client_id=parts[0], client_secret=parts[1], webhook_url=webhook_url)
        )
    return create_cashfree_emulator(CashfreeEmulatorConfig(merchants=tuple(cashfree_merchants)))


async def serve(
    app: web.Application, host: str, port: int, *, ready: Callable[[str], None]
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; ``ready(base_url)`` is called once listening."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with run_emulator(app, host, port) as base_url:
            ready(base_url)
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m protocols.gateways.emulators",
        description="Run a local Razorpay or Cashfree PG emulator (control API: /_emulator).",
    )
    parser.add_argument("gateway", choices=("razorpay", "cashfree"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--merchant",
        action="append",
        default=[],
        help="razorpay: key_id:key_secret:webhook_secret; cashfree: client_id:client_secret "
        "(repeatable; more can be registered with POST /_emulator/merchants)",
    )
    parser.add_argument("--webhook-url", help="where the merchants given here get webhooks")
    args = parser.parse_args(argv)
    try:
        app = build_app(args.gateway, args.merchant, args.webhook_url)
    except ValueError as exc:
        parser.error(str(exc))

    def announce(base_url: str) -> None:
        print(json.dumps({"gateway": args.gateway, "url": base_url}), flush=True)

    asyncio.run(serve(app, args.host, args.port, ready=announce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
