"""Ledger rows shared by the wallet rules and the SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass
class AccountState:
    account_id: UUID
    code: str
    currency: str
    tenant_id: UUID | None
    owner_user_id: UUID | None
    limited: bool  # debits (posted + pending) must not exceed posted credits
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    version: int
    low_balance_threshold: int | None = None
    low_balance_notified: bool = False

    @property
    def balance(self) -> int:
        """Posted credits minus posted debits (a wallet's money)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What may still be debited: balance minus what pending debits reserve."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def balances(self) -> dict[str, int]:
        return {
            "balance": self.balance,
            "available": self.available,
            "debits_posted": self.debits_posted,
            "credits_posted": self.credits_posted,
            "debits_pending": self.debits_pending,
            "credits_pending": self.credits_pending,
        }


@dataclass(frozen=True)
class TransferRecord:
    transfer_id: str
    kind: str  # single | pending | post | void
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    pending_id: str | None
    timeout_at: datetime | None
    code: str
    linked_group: str | None
    user_data: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class Resolution:
    pending_id: str
    status: str  # posted | voided | expired
    by_transfer_id: str | None
    resolved_at: datetime
