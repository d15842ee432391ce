"""Commands the hub sends to a tenant's logical actor (picklable, crossing into Ray).

Every command is safe to send twice: creating a hold carries an idempotency key; releasing or
confirming a hold that is already released/confirmed answers the hold as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class CreateHoldCommand:
    tenant_id: UUID
    user_id: UUID
    slot_id: UUID
    qty: int
    idempotency_key: str


@dataclass(frozen=True)
class ReleaseHoldCommand:
    tenant_id: UUID
    user_id: UUID
    hold_id: UUID
    may_release_any: bool


@dataclass(frozen=True)
class ConfirmHoldCommand:
    tenant_id: UUID
    hold_id: UUID


InventoryCommand = CreateHoldCommand | ReleaseHoldCommand | ConfirmHoldCommand
