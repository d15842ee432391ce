"""Point the demo tenants of a compose sandbox at shared gateway emulators.

Run in the Seva Hub image after ``seva demo-seed`` (deploy/compose.yaml, service
``sandbox-seed``)::

    python /opt/seva-deploy/sandbox_seed.py --hub-url http://nginx:8080 \\
        --gateway razorpay=http://127.0.0.1:9101,http://razorpay-emulator:9101 \\
        --gateway cashfree=http://127.0.0.1:9102,http://cashfree-emulator:9102

Each ``--gateway NAME=HUB_URL,CONTROL_URL`` names where the hubs reach the emulator
(``HUB_URL``, stored as the tenants' gateway ``base_url``; plain http is accepted only on
loopback, hence the forwarders inside each hub's network namespace) and where this script
reaches its control API (``CONTROL_URL``, to register the demo merchants). Webhooks go to
``HUB_URL/api/v1/webhooks/<gateway>/<tenant_id>`` under ``--hub-url``.

Reads ``DATABASE_URL`` and ``SEVA_SECRET_KEY`` (the key the hubs use) through the hub's
settings. Idempotent: run it again after restarting an emulator (its state is in memory).
Prints one JSON line ``{"tenants": n, "accounts": n}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

import asyncpg

from hub.cli import DemoEmulators
from hub.settings import Settings
from protocols.gateway_config import GATEWAY_NAMES
from protocols.secretbox import SecretBox
from storage.demo import DEMO_TENANTS
from storage.gateway_credentials import seed_demo_gateways


def parse_gateway(spec: str) -> tuple[str, str, str]:
    """``NAME=HUB_URL,CONTROL_URL`` -> ``(name, hub_url, control_url)``; ``ValueError`` else."""
    name, _, urls = spec.partition("=")
    hub_url, _, control_url = urls.partition(",")
    if name not in GATEWAY_NAMES or not hub_url or not control_url:
        raise ValueError(
            f"--gateway {spec!r}: expected NAME=HUB_URL,CONTROL_URL with NAME one of "
            + ", ".join(GATEWAY_NAMES)
        )
    return name, hub_url.rstrip("/"), control_url.rstrip("/")


async def point_demo_tenants(
    settings: Settings, *, hub_url: str, gateways: Sequence[tuple[str, str, str]]
) -> dict[str, int]:
    if settings.database_url is None or settings.secret_key is None:
        raise ValueError("DATABASE_URL and SEVA_SECRET_KEY must be set (as for the hubs)")
    box = SecretBox.from_base64(settings.secret_key.get_secret_value())
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        accounts = await seed_demo_gateways(
            conn,
            box,
            slugs=[tenant.slug for tenant in DEMO_TENANTS],
            emulator_urls={name: hub_side for name, hub_side, _ in gateways},
        )
    finally:
        await conn.close()
    control = DemoEmulators(urls={name: ctl for name, _, ctl in gateways}, accounts=accounts)
    await control.register_merchants(hub_url.rstrip("/"))
    return {"tenants": len({a.tenant_id for a in accounts}), "accounts": len(accounts)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub-url", required=True, help="where the emulators send webhooks")
    parser.add_argument(
        "--gateway",
        action="append",
        required=True,
        metavar="NAME=HUB_URL,CONTROL_URL",
        help="repeat per gateway",
    )
    args = parser.parse_args(argv)
    try:
        gateways = [parse_gateway(spec) for spec in args.gateway]
    except ValueError as exc:
        parser.error(str(exc))
    try:
        counts = asyncio.run(
            point_demo_tenants(Settings(), hub_url=args.hub_url, gateways=gateways)
        )
    except ValueError as exc:
        print(f"sandbox_seed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
