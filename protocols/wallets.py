"""Wallets, two-phase wallet holds and messaging credits on the wire. Amounts are integers in
minor units: paise for INR, whole coins, whole messages for SMS/WHATSAPP/EMAIL."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, StrictInt

from protocols.wire import IdempotencyKey, WireModel

Channel = Literal["SMS", "WHATSAPP", "EMAIL"]
Amount = StrictInt


class WalletView(WireModel):
    wallet_id: UUID
    code: str
    currency: str
    tenant_id: UUID | None
    owner_user_id: UUID | None
    balance: int
    available: int
    debits_pending: int
    credits_pending: int
    version: int


class GetWallet(WireModel):
    """``wallet:get``: one wallet by id, or (no id) the caller's own wallets."""

    wallet_id: UUID | None = None


class CreateWalletHold(WireModel):
    amount: Amount = Field(gt=0, le=10**12)
    timeout_secs: StrictInt = Field(default=900, ge=1, le=7 * 86_400)
    transfer_id: IdempotencyKey | None = None
    code: str = Field(default="wallet_hold", pattern=r"^[a-z_]{1,40}$")


class PostWalletHold(WireModel):
    amount: Amount | None = Field(default=None, gt=0, le=10**12)
    transfer_id: IdempotencyKey | None = None


class VoidWalletHold(WireModel):
    transfer_id: IdempotencyKey | None = None


class TransferView(WireModel):
    transfer_id: str
    kind: str
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    pending_id: str | None
    code: str


class PurchaseCredits(WireModel):
    """The platform buys ``units`` messages from a vendor at ``wholesale_rate_paise`` each."""

    channel: Channel
    units: StrictInt = Field(gt=0, le=100_000_000)
    wholesale_rate_paise: StrictInt = Field(ge=0, le=100_000)
    vendor: str = Field(min_length=1, max_length=80)
    transfer_id: IdempotencyKey | None = None


class AllocateCredits(WireModel):
    """Platform → tenant, at the tenant's retail rate (paid from what the platform owes it)."""

    tenant_id: UUID
    channel: Channel
    units: StrictInt = Field(gt=0, le=100_000_000)
    retail_rate_paise: StrictInt = Field(ge=0, le=100_000)
    low_balance_threshold: StrictInt | None = Field(default=None, ge=0)
    transfer_id: IdempotencyKey | None = None


class DeductCredits(WireModel):
    tenant_id: UUID
    channel: Channel
    units: StrictInt = Field(default=1, gt=0, le=100_000)
    transfer_id: IdempotencyKey
