"""A tenant's account at a payment gateway, as platform operators configure it over REST.

Secrets come in (``key_secret``, ``webhook_secrets``) and never go out: a configuration is
answered with ``webhook_secrets`` as a count. ``webhook_secrets`` lists the current secret first,
then up to two older ones still accepted while a rotation is under way. Cashfree signs its
webhooks with the client secret, so for Cashfree the list is normally ``[key_secret]``.

``base_url`` is ``None`` for the gateway's production API. Otherwise it must be ``https``;
plain ``http`` is accepted only for a loopback host (a local emulator), so that credentials are
never sent in clear across a network.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from protocols.wire import WireModel

GatewayName = Literal["razorpay", "cashfree"]
GATEWAY_NAMES: tuple[GatewayName, ...] = ("razorpay", "cashfree")
MAX_WEBHOOK_SECRETS = 3
LOOPBACK_NAMES = frozenset({"localhost"})


def _printable_without_spaces(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if not text.isprintable() or any(ch.isspace() for ch in text):
        raise ValueError("must be printable characters without spaces")
    return value


GatewaySecret = Annotated[
    SecretStr, Field(min_length=1, max_length=256), AfterValidator(_printable_without_spaces)
]
KeyId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")]


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash; raises ``ValueError`` for anything but an https URL
    (or http on loopback) with a host and no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("must be an http(s) URL with a host")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError("must be https (plain http only for a loopback emulator)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    return url.rstrip("/")


class ConfigureGateway(WireModel):
    """``PUT /api/v1/admin/tenants/{tenant_id}/gateways/{gateway}``: the whole configuration.

    Omitted fees are the gateway's defaults (``protocols.gateways.fees``); an omitted priority
    is the gateway's place in :data:`GATEWAY_NAMES` (Razorpay 0, Cashfree 1).
    """

    key_id: KeyId
    key_secret: GatewaySecret
    webhook_secrets: list[GatewaySecret] = Field(min_length=1, max_length=MAX_WEBHOOK_SECRETS)
    base_url: str | None = Field(default=None, min_length=1, max_length=2048)
    fee_percent_bp: StrictInt | None = Field(default=None, ge=0, le=10_000)
    fee_fixed_paise: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    priority: StrictInt | None = Field(default=None, ge=0, le=1000)
    enabled: StrictBool = True

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("webhook_secrets")
    @classmethod
    def _distinct(cls, value: list[SecretStr]) -> list[SecretStr]:
        texts = [secret.get_secret_value() for secret in value]
        if len(set(texts)) != len(texts):
            raise ValueError("webhook secrets must be distinct")
        return value


class GatewayConfigView(WireModel):
    """A configuration as answered: no secret, only how many webhook secrets are accepted."""

    tenant_id: UUID
    gateway: GatewayName
    key_id: str
    webhook_secrets: int
    base_url: str | None
    fee_percent_bp: int
    fee_fixed_paise: int
    priority: int
    enabled: bool
    updated_at: datetime


class PaymentRouting(WireModel):
    """A tenant's routing override: ``cheapest`` (default), ``pin`` one gateway, or ``split``
    by percentage weights (they must add up to 100)."""

    mode: Literal["cheapest", "pin", "split"]
    gateway: Literal["razorpay", "cashfree"] | None = None
    weights: dict[Literal["razorpay", "cashfree"], StrictInt] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.mode == "pin" and self.gateway is None:
            raise ValueError("pin names a gateway")
        if self.mode == "split":
            if not self.weights or sum(self.weights.values()) != 100:
                raise ValueError("split weights must add up to 100")
            if any(w < 0 for w in self.weights.values()):
                raise ValueError("split weights cannot be negative")
        return self


# -- REST answers ----------------------------------------------------------------------------


class GatewayConfigList(WireModel):
    """``GET /api/v1/admin/tenants/{tenant_id}/gateways``."""

    gateways: list[GatewayConfigView]


class PaymentRoutingView(WireModel):
    """``PUT /api/v1/admin/tenants/{tenant_id}/payment-routing``: the routing now stored."""

    tenant_id: UUID
    payment_routing: PaymentRouting
