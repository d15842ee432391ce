"""Commands for the wallets' logical actors, and which actor a transfer belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from actors.ledger import LedgerOp


def route_of(debit_account_id: UUID, credit_account_id: UUID, debit_limited: bool) -> UUID:
    """The account whose logical actor applies a transfer: the debited account when its
    balance is limited (only its actor can check it), otherwise the credited one (so a wallet
    receiving money still sees its changes in order)."""
    return debit_account_id if debit_limited else credit_account_id


@dataclass(frozen=True)
class LedgerCommand:
    """One transfer, or a linked group applied all or nothing, on ``wallet_id``'s actor.

    Safe to send twice: every operation carries its own transfer id.
    """

    wallet_id: UUID
    ops: tuple[LedgerOp, ...]
