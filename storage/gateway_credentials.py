"""Tenants' gateway accounts (``tenant_gateways``): credentials sealed with a
:class:`~protocols.secretbox.SecretBox`, fee schedule, routing priority.

Secrets are encrypted here, on the way in, and decrypted here, on the way out, with the box the
caller passes; each ciphertext is bound to its tenant, gateway and field (see
``protocols/secretbox.py``). Nothing but the key id, the base URL and the number of webhook
secrets is ever returned without the box.

Errors: ``NotFound`` (upsert for a tenant that does not exist), ``SecretUnreadable`` (a stored
secret does not decrypt with the given box).

The demo section at the end gives each demo tenant deterministic, public test credentials at
the local gateway emulators (only ``seva serve --demo`` uses it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import SecretStr

from protocols.errors import NotFound
from protocols.gateway_config import GATEWAY_NAMES
from protocols.gateways.fees import DEFAULT_SCHEDULES, FeeSchedule
from protocols.gateways.interface import GatewayCredentials
from protocols.secretbox import SecretBox, SecretUnreadable

KEY_SECRET_FIELD = "key_secret"
WEBHOOK_SECRET_FIELD = "webhook_secret"
# Cashfree's API lives under /pg (production: https://api.cashfree.com/pg); so does the
# emulator's, while its control API is at the root.
CASHFREE_API_PATH = "/pg"

_CONFIG_COLUMNS = (
    "tenant_id, gateway, key_id, cardinality(webhook_secrets_enc) AS webhook_secrets, base_url, "
    "fee_percent_bp, fee_fixed_paise, priority, enabled, updated_at"
)


@dataclass(frozen=True)
class GatewayConfig:
    """A tenant's configuration at one gateway, without its secrets."""

    tenant_id: UUID
    gateway: str
    key_id: str
    webhook_secrets: int
    base_url: str | None
    fee_percent_bp: int
    fee_fixed_paise: int
    priority: int
    enabled: bool
    updated_at: datetime

    @property
    def fees(self) -> FeeSchedule:
        return FeeSchedule(percent_bp=self.fee_percent_bp, fixed_paise=self.fee_fixed_paise)


@dataclass(frozen=True)
class GatewayAccount:
    """A configuration with its decrypted credentials (keep it in memory only)."""

    config: GatewayConfig
    credentials: GatewayCredentials


_CONFIG_FIELDS = tuple(f.name for f in fields(GatewayConfig))


def default_priority(gateway: str) -> int:
    """Razorpay 0, Cashfree 1: the order of ``GATEWAY_NAMES``."""
    return GATEWAY_NAMES.index(gateway)


def _config(row: asyncpg.Record) -> GatewayConfig:
    return GatewayConfig(**{name: row[name] for name in _CONFIG_FIELDS})


def _open(box: SecretBox, row: asyncpg.Record) -> GatewayAccount:
    tenant_id, gateway = row["tenant_id"], row["gateway"]
    key_secret = box.decrypt(
        row["key_secret_enc"], tenant_id=tenant_id, gateway=gateway, field=KEY_SECRET_FIELD
    )
    webhook_secrets = tuple(
        SecretStr(
            box.decrypt(sealed, tenant_id=tenant_id, gateway=gateway, field=WEBHOOK_SECRET_FIELD)
        )
        for sealed in row["webhook_secrets_enc"]
    )
    config = _config(row)
    return GatewayAccount(
        config=config,
        credentials=GatewayCredentials(
            key_id=config.key_id,
            key_secret=SecretStr(key_secret),
            webhook_secrets=webhook_secrets,
            base_url=config.base_url,
        ),
    )


async def upsert_gateway(
    conn: asyncpg.Connection,
    box: SecretBox,
    *,
    tenant_id: UUID,
    gateway: str,
    key_id: str,
    key_secret: SecretStr,
    webhook_secrets: Sequence[SecretStr],
    base_url: str | None,
    fee_percent_bp: int,
    fee_fixed_paise: int,
    priority: int,
    enabled: bool,
) -> GatewayConfig:
    """Create or replace the tenant's account at ``gateway`` (every field; ``updated_at`` moves,
    which is how a directory of adapters notices the change). Raises ``NotFound`` for an
    unknown tenant."""
    sealed_key = box.encrypt(
        key_secret.get_secret_value(), tenant_id=tenant_id, gateway=gateway, field=KEY_SECRET_FIELD
    )
    sealed_hooks = [
        box.encrypt(
            secret.get_secret_value(),
            tenant_id=tenant_id,
            gateway=gateway,
            field=WEBHOOK_SECRET_FIELD,
        )
        for secret in webhook_secrets
    ]
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO tenant_gateways (tenant_id, gateway, key_id, key_secret_enc,
                                         webhook_secrets_enc, base_url, fee_percent_bp,
                                         fee_fixed_paise, priority, enabled, updated_at)
            VALUES ($1, $2, $3, $4, $5::bytea[], $6, $7, $8, $9, $10, clock_timestamp())
            ON CONFLICT (tenant_id, gateway) DO UPDATE SET
                key_id = EXCLUDED.key_id,
                key_secret_enc = EXCLUDED.key_secret_enc,
                webhook_secrets_enc = EXCLUDED.webhook_secrets_enc,
                base_url = EXCLUDED.base_url,
                fee_percent_bp = EXCLUDED.fee_percent_bp,
                fee_fixed_paise = EXCLUDED.fee_fixed_paise,
                priority = EXCLUDED.priority,
                enabled = EXCLUDED.enabled,
                updated_at = clock_timestamp()
            RETURNING {_CONFIG_COLUMNS}
            """,
            tenant_id,
            gateway,
            key_id,
            sealed_key,
            sealed_hooks,
            base_url,
            fee_percent_bp,
            fee_fixed_paise,
            priority,
            enabled,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound("no such tenant") from exc
    assert row is not None
    return _config(row)


async def get_config(
    conn: asyncpg.Connection, *, tenant_id: UUID, gateway: str
) -> GatewayConfig | None:
    row = await conn.fetchrow(
        f"SELECT {_CONFIG_COLUMNS} FROM tenant_gateways WHERE tenant_id = $1 AND gateway = $2",
        tenant_id,
        gateway,
    )
    return _config(row) if row else None


async def list_configs(conn: asyncpg.Connection, *, tenant_id: UUID) -> list[GatewayConfig]:
    """Every configured gateway of the tenant, enabled or not, by priority then name."""
    rows = await conn.fetch(
        f"SELECT {_CONFIG_COLUMNS} FROM tenant_gateways WHERE tenant_id = $1 "
        "ORDER BY priority, gateway",
        tenant_id,
    )
    return [_config(r) for r in rows]


async def get_account(
    conn: asyncpg.Connection, box: SecretBox, *, tenant_id: UUID, gateway: str
) -> GatewayAccount | None:
    """The account with its secrets decrypted (enabled or not). Raises ``SecretUnreadable``."""
    row = await conn.fetchrow(
        f"SELECT {_CONFIG_COLUMNS}, key_secret_enc, webhook_secrets_enc FROM tenant_gateways "
        "WHERE tenant_id = $1 AND gateway = $2",
        tenant_id,
        gateway,
    )
    return _open(box, row) if row else None


async def list_accounts(
    conn: asyncpg.Connection, box: SecretBox, *, tenant_id: UUID, enabled_only: bool = True
) -> list[GatewayAccount]:
    """The tenant's accounts with their secrets decrypted, by priority then name (the order
    routing breaks fee ties in). Raises ``SecretUnreadable``."""
    rows = await conn.fetch(
        f"SELECT {_CONFIG_COLUMNS}, key_secret_enc, webhook_secrets_enc FROM tenant_gateways "
        "WHERE tenant_id = $1 AND (enabled OR NOT $2::bool) ORDER BY priority, gateway",
        tenant_id,
        enabled_only,
    )
    return [_open(box, r) for r in rows]


async def count_accounts(conn: asyncpg.Connection) -> int:
    """How many gateway accounts are stored, over all tenants."""
    return int(await conn.fetchval("SELECT count(*) FROM tenant_gateways"))


async def unreadable_accounts(conn: asyncpg.Connection, box: SecretBox) -> list[tuple[UUID, str]]:
    """``(tenant_id, gateway)`` of every stored account whose key secret does not decrypt
    with ``box`` (all of them when the key is not the one they were sealed with)."""
    rows = await conn.fetch(
        "SELECT tenant_id, gateway, key_secret_enc FROM tenant_gateways ORDER BY tenant_id, gateway"
    )
    unreadable: list[tuple[UUID, str]] = []
    for row in rows:
        try:
            box.decrypt(
                row["key_secret_enc"],
                tenant_id=row["tenant_id"],
                gateway=row["gateway"],
                field=KEY_SECRET_FIELD,
            )
        except SecretUnreadable:
            unreadable.append((row["tenant_id"], row["gateway"]))
    return unreadable


# -- demo -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoGatewayAccount:
    """A demo tenant's public test account at a local gateway emulator."""

    tenant_id: UUID
    slug: str
    gateway: str
    key_id: str
    key_secret: str
    webhook_secret: str


def demo_credentials(slug: str, gateway: str) -> tuple[str, str, str]:
    """``(key_id, key_secret, webhook_secret)`` of a demo tenant at ``gateway``: deterministic
    and public on purpose, like the demo passwords. Cashfree signs webhooks with the client
    secret, so its webhook secret is its key secret."""
    tag = slug.replace("-", "_")
    if gateway == "razorpay":
        return f"rzp_test_{tag}", f"rzp-demo-secret-{slug}", f"rzp-demo-webhook-{slug}"
    secret = f"cf-demo-secret-{slug}"
    return f"cf_test_{tag}", secret, secret


def api_base_url(gateway: str, emulator_url: str) -> str:
    """Where an adapter reaches a gateway emulator's API (Cashfree's is under ``/pg``)."""
    return emulator_url + CASHFREE_API_PATH if gateway == "cashfree" else emulator_url


def emulator_url_of(gateway: str, api_url: str) -> str:
    """The inverse of :func:`api_base_url`: the emulator's root (``/_emulator/...``)."""
    if gateway == "cashfree" and api_url.endswith(CASHFREE_API_PATH):
        return api_url[: -len(CASHFREE_API_PATH)]
    return api_url


async def seed_demo_gateways(
    conn: asyncpg.Connection,
    box: SecretBox,
    *,
    slugs: Sequence[str],
    emulator_urls: Mapping[str, str],
) -> list[DemoGatewayAccount]:
    """Point every demo tenant (by slug) at the emulators in ``emulator_urls`` (gateway → root
    URL) with its demo credentials, default fees, Razorpay first. Idempotent; run at every
    ``seva serve --demo``, as the emulators get new ports each time."""
    accounts: list[DemoGatewayAccount] = []
    async with conn.transaction():
        tenants = await conn.fetch(
            "SELECT id, slug FROM tenants WHERE slug = ANY($1::text[]) ORDER BY slug", list(slugs)
        )
        for tenant in tenants:
            for gateway in GATEWAY_NAMES:
                if gateway not in emulator_urls:
                    continue
                key_id, key_secret, webhook_secret = demo_credentials(tenant["slug"], gateway)
                fees = DEFAULT_SCHEDULES[gateway]
                await upsert_gateway(
                    conn,
                    box,
                    tenant_id=tenant["id"],
                    gateway=gateway,
                    key_id=key_id,
                    key_secret=SecretStr(key_secret),
                    webhook_secrets=[SecretStr(webhook_secret)],
                    base_url=api_base_url(gateway, emulator_urls[gateway]),
                    fee_percent_bp=fees.percent_bp,
                    fee_fixed_paise=fees.fixed_paise,
                    priority=default_priority(gateway),
                    enabled=True,
                )
                accounts.append(
                    DemoGatewayAccount(
                        tenant["id"], tenant["slug"], gateway, key_id, key_secret, webhook_secret
                    )
                )
    return accounts


async def describe_demo_gateways(
    conn: asyncpg.Connection, *, slugs_by_tenant: Mapping[UUID, str]
) -> tuple[dict[str, Any], dict[UUID, dict[str, Any]]]:
    """What ``GET /api/v1/demo`` shows of the gateways: the emulators (base URL, how to pay or
    fail an order) and, per tenant, its key ids and webhook secrets. The secrets are the demo's
    public ones, shown only while the stored key id is still the demo's."""
    rows = await conn.fetch(
        "SELECT tenant_id, gateway, key_id, base_url FROM tenant_gateways "
        "WHERE tenant_id = ANY($1::uuid[]) ORDER BY priority, gateway",
        list(slugs_by_tenant),
    )
    emulators: dict[str, Any] = {}
    per_tenant: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        gateway, slug = row["gateway"], slugs_by_tenant[row["tenant_id"]]
        if row["base_url"] is not None and gateway not in emulators:
            root = emulator_url_of(gateway, row["base_url"])
            emulators[gateway] = {
                "base_url": root,
                "api_base_url": row["base_url"],
                "checkout": f"POST {root}/_emulator/orders/{{order_id}}/pay",
                "fail": f"POST {root}/_emulator/orders/{{order_id}}/fail",
            }
        key_id, _, webhook_secret = demo_credentials(slug, gateway)
        per_tenant.setdefault(row["tenant_id"], {})[gateway] = {
            "key_id": row["key_id"],
            "webhook_secrets": [webhook_secret] if row["key_id"] == key_id else [],
        }
    return emulators, per_tenant
