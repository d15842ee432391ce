"""Wire shapes of REST answers that handlers build as plain JSON objects.

They exist so ``/api/v1/openapi.json`` can describe those answers; the handlers' output is
unchanged (these models document it, they do not produce it).
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from protocols.live import LiveStatus
from protocols.tenants import TenantKind
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


class BookingAssigned(WireModel):
    """``PUT /api/v1/bookings/{booking_id}/assignee``."""

    booking_id: UUID
    assigned_staff_id: UUID
    status: LiveStatus | None = Field(
        description="the booking's live status; a confirmed booking without one becomes "
        "assigned; null while the booking is not confirmed"
    )


class StreamView(WireModel):
    """``GET /api/v1/streams/{stream_id}``."""

    stream_id: UUID
    state: Literal["live", "ended"]
    url: str
    kind: Literal["hls", "youtube", "meet"]
    booking_id: UUID | None
    resource_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    duration_secs: float | None = Field(description="null while live")
    peak_viewers: int


class LedgerEntry(WireModel):
    """One transfer as seen from the wallet's side."""

    seq: int
    transfer_id: str
    kind: Literal["single", "pending", "post", "void"]
    side: Literal["debit", "credit"]
    amount: int = Field(description="in the currency's smallest unit (paise for INR)")
    currency: str
    counterparty_account_id: UUID
    pending_id: str | None
    code: str
    created_at: datetime


class LedgerPage(WireModel):
    """``GET /api/v1/wallets/{wallet_id}/ledger``, newest first."""

    wallet_id: UUID
    entries: list[LedgerEntry]
    next_cursor: int | None = Field(
        description="pass as cursor for the next page; null on the last page"
    )


class ChannelProfit(WireModel):
    channel: str | None
    bought_units: int
    cost_paise: int
    sold_units: int
    revenue_paise: int
    cost_of_sold_paise: int = Field(description="sold units at the average wholesale rate paid")
    margin_paise: int


class CreditProfit(WireModel):
    """``GET /api/v1/admin/credits/profit``: per channel, and the total margin."""

    channels: list[ChannelProfit]
    margin_paise: int


class HoldPaidFromWallet(WireModel):
    """``POST /api/v1/holds/{hold_id}/pay-from-wallet``; a repeat answers the same."""

    hold_id: UUID
    status: str = Field(description="the hold's status: confirmed once paid")
    amount_paise: int
    payment: TransferView | None = Field(
        description="the posted wallet transfer; null for a free hold"
    )


class DemoSlot(WireModel):
    slot_id: UUID
    date: dt.date = Field(description="the slot's local date")
    starts_at: datetime
    ends_at: datetime
    capacity: int
    price_paise: int


class DemoResource(WireModel):
    resource_id: UUID
    kind: str
    name: str
    slots: list[DemoSlot] = Field(description="from today on, by start time")


class DemoTenantGateway(WireModel):
    key_id: str
    webhook_secrets: list[str] = Field(
        description="the demo's public webhook secret while the demo key id is stored"
    )


class DemoTenant(WireModel):
    tenant_id: UUID
    slug: str
    name: str
    kind: TenantKind
    resources: list[DemoResource]
    gateways: dict[str, DemoTenantGateway] = Field(description="keyed by gateway name")


class DemoLogin(WireModel):
    email: str
    password: str
    role: str
    tenant: str | None = Field(description="the tenant's slug; null for the platform admin")


class DemoEmulator(WireModel):
    base_url: str
    api_base_url: str
    checkout: str = Field(description="how to pay an order on the emulator")
    fail: str = Field(description="how to fail an order on the emulator")


class DemoData(WireModel):
    """``GET /api/v1/demo`` (``seva serve --demo`` only)."""

    tenants: list[DemoTenant]
    users: list[DemoLogin]
    gateways: dict[str, DemoEmulator] = Field(description="the gateway emulators, by name")
