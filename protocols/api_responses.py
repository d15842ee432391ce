"""Wire shapes of REST answers that handlers build as plain JSON objects.

They exist so ``/api/v1/openapi.json`` can describe those answers; the handlers' output is
unchanged (these models document it, they do not produce it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from protocols.wallets import TransferView, WalletView
from protocols.wire import WireModel


class HealthStatus(WireModel):
    """``GET /healthz``: the process is up."""

    status: Literal["ok"]


class ReadinessCheck(WireModel):
    ok: bool
    latency_ms: float | None = None
    error: str | None = Field(default=None, description="present when not ok")


class ReadinessReport(WireModel):
    """``GET /readyz``: 200 when PostgreSQL and Ray answer (``degraded`` when only Redis does
    not, unless ``SEVA_READYZ_REQUIRE_REDIS``), else 503 with the same shape."""

    status: Literal["ready", "degraded", "not_ready"]
    checks: dict[str, ReadinessCheck] = Field(
        description="keyed by postgres, ray and, when REDIS_URL is set, redis"
    )


class WalletList(WireModel):
    wallets: list[WalletView]


class TransferList(WireModel):
    transfers: list[TransferView]


class WebhookReceipt(WireModel):
    """A verified gateway webhook was stored (``accepted``) or had been already
    (``duplicate``); the payment processor applies it afterwards."""

    status: Literal["accepted", "duplicate"]


class StoredFile(WireModel):
    key: str
    size_bytes: int
