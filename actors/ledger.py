"""Pure double-entry rules (TigerBeetle's model) for the accounts one wallet shard owns.

Every operation is a transfer that debits one account and credits another by the same amount
in the same currency. ``single`` transfers post at once; ``pending`` ones reserve the amount
(on both sides) until a ``post`` (full or partial; the rest is released), a ``void``, or their
timeout. A pending transfer is resolved at most once. A *limited* account's debits, posted plus
pending, never exceed its posted credits. An operation with the id of one already applied
returns the original if every field matches and is refused (``exists_with_different_<field>``)
otherwise.

Like :mod:`actors.domain`, the rules mutate the in-memory :class:`Ledger` and record what to
write in :class:`LedgerEffects`; the shard persists the effects in one transaction or throws the
state away and reloads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from protocols.errors import Conflict, InsufficientFunds, Invalid, NotFound
from storage.ledger_records import AccountState, Resolution, TransferRecord

_NUMBERS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


@dataclass(frozen=True)
class TransferSpec:
    transfer_id: str
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    code: str = ""
    pending: bool = False
    timeout_secs: int | None = None
    user_data: dict[str, Any] | None = None


@dataclass(frozen=True)
class PostSpec:
    transfer_id: str
    pending_id: str
    amount: int | None = None  # None posts the full pending amount


@dataclass(frozen=True)
class VoidSpec:
    transfer_id: str
    pending_id: str


LedgerOp = TransferSpec | PostSpec | VoidSpec


@dataclass
class Delta:
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0


@dataclass
class LedgerEffects:
    transfers: list[TransferRecord] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    deltas: dict[UUID, Delta] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.transfers or self.resolutions)

    def mark(self, accounts: set[UUID]) -> tuple[int, int, dict[UUID, tuple[int, ...] | None]]:
        """Where to roll back to; only ``accounts`` (those a group touches) are remembered."""
        deltas = {
            a: tuple(getattr(self.deltas[a], n) for n in _NUMBERS) if a in self.deltas else None
            for a in accounts
        }
        return len(self.transfers), len(self.resolutions), deltas

    def rollback(self, mark: tuple[int, int, dict[UUID, tuple[int, ...] | None]]) -> None:
        transfers, resolutions, deltas = mark
        del self.transfers[transfers:]
        del self.resolutions[resolutions:]
        for account_id, numbers in deltas.items():
            if numbers is None:
                self.deltas.pop(account_id, None)
            else:
                self.deltas[account_id] = Delta(*numbers)


@dataclass
class Ledger:
    """Accounts a shard has loaded, and the unresolved pending transfers it is responsible for."""

    accounts: dict[UUID, AccountState] = field(default_factory=dict)
    pending: dict[str, TransferRecord] = field(default_factory=dict)

    def apply_group(
        self,
        ops: tuple[LedgerOp, ...],
        *,
        existing: dict[str, TransferRecord],
        resolutions: dict[str, Resolution],
        now: datetime,
        effects: LedgerEffects,
    ) -> tuple[TransferRecord, ...]:
        """Apply ``ops`` all or nothing (a linked group when there are several)."""
        # Only what this group can touch is remembered for a rollback: copying every loaded
        # account per command would make a busy shard slower the more wallets it hosts.
        touched = self._accounts_of(ops, existing)
        mark = effects.mark(touched)
        snapshot = {
            a: tuple(getattr(self.accounts[a], n) for n in _NUMBERS)
            for a in touched
            if a in self.accounts
        }
        pending_ids = {op.transfer_id for op in ops} | {
            op.pending_id for op in ops if isinstance(op, PostSpec | VoidSpec)
        }
        pending_before = {p: self.pending.get(p) for p in pending_ids}
        # The batch's lookups learn of this group's transfers as they are applied; a failed
        # group must not leave them there for a later command of the same batch to trust.
        existing_before = {t: existing.get(t) for t in pending_ids}
        resolutions_before = {p: resolutions.get(p) for p in pending_ids}
        group = ops[0].transfer_id if len(ops) > 1 else None
        try:
            return tuple(self._apply(op, group, existing, resolutions, now, effects) for op in ops)
        except Exception:
            effects.rollback(mark)
            for account_id, numbers in snapshot.items():
                for name, value in zip(_NUMBERS, numbers, strict=True):
                    setattr(self.accounts[account_id], name, value)
            for pending_id, record in pending_before.items():
                if record is None:
                    self.pending.pop(pending_id, None)
                else:
                    self.pending[pending_id] = record
            _restore(existing, existing_before)
            _restore(resolutions, resolutions_before)
            raise

    def _accounts_of(
        self, ops: tuple[LedgerOp, ...], existing: dict[str, TransferRecord]
    ) -> set[UUID]:
        touched: set[UUID] = set()
        for op in ops:
            if isinstance(op, TransferSpec):
                touched.update((op.debit_account_id, op.credit_account_id))
            else:
                pending = self.pending.get(op.pending_id) or existing.get(op.pending_id)
                if pending is not None:
                    touched.update((pending.debit_account_id, pending.credit_account_id))
        return touched

    def expire_due(self, now: datetime, effects: LedgerEffects) -> list[str]:
        due = [p for p in self.pending.values() if p.timeout_at and p.timeout_at <= now]
        for pending in sorted(due, key=lambda p: p.transfer_id):
            self._release(pending, "expired", None, now, effects)
        return [p.transfer_id for p in due]

    def next_timeout(self) -> datetime | None:
        return min((p.timeout_at for p in self.pending.values() if p.timeout_at), default=None)

    # -- rules ---------------------------------------------------------------------------------

    def _apply(
        self,
        op: LedgerOp,
        group: str | None,
        existing: dict[str, TransferRecord],
        resolutions: dict[str, Resolution],
        now: datetime,
        effects: LedgerEffects,
    ) -> TransferRecord:
        prior = existing.get(op.transfer_id)
        if isinstance(op, TransferSpec):
            return self._transfer(op, group, prior, now, effects, existing)
        pending = self._pending_of(op.pending_id, existing)
        if prior is not None:
            _same_as(prior, op, pending)
            return prior
        resolution = resolutions.get(op.pending_id)
        if resolution is not None:
            raise Conflict(
                f"pending transfer already {resolution.status}",
                {"reason": f"already_{resolution.status}", "pending_id": op.pending_id},
            )
        if pending.timeout_at is not None and pending.timeout_at <= now:
            self._release(pending, "expired", None, now, effects)
            resolutions[pending.transfer_id] = effects.resolutions[-1]
            raise Conflict(
                "pending transfer has expired",
                {"reason": "already_expired", "pending_id": op.pending_id},
            )
        if isinstance(op, PostSpec):
            amount = pending.amount if op.amount is None else op.amount
            if not 0 < amount <= pending.amount:
                raise Invalid(
                    "post amount must be more than 0 and at most the pending amount",
                    {"pending_amount": pending.amount},
                )
            record = self._record(
                op.transfer_id,
                "post",
                pending.debit_account_id,
                pending.credit_account_id,
                amount,
                pending.currency,
                now,
                pending_id=pending.transfer_id,
                group=group,
            )
            self._move(
                pending.debit_account_id,
                pending.credit_account_id,
                pending.amount,
                pending=True,
                sign=-1,
                effects=effects,
            )
            self._move(
                pending.debit_account_id,
                pending.credit_account_id,
                amount,
                pending=False,
                sign=1,
                effects=effects,
            )
            self._resolve(pending, "posted", op.transfer_id, now, effects)
        else:
            record = self._record(
                op.transfer_id,
                "void",
                pending.debit_account_id,
                pending.credit_account_id,
                pending.amount,
                pending.currency,
                now,
                pending_id=pending.transfer_id,
                group=group,
            )
            self._move(
                pending.debit_account_id,
                pending.credit_account_id,
                pending.amount,
                pending=True,
                sign=-1,
                effects=effects,
            )
            self._resolve(pending, "voided", op.transfer_id, now, effects)
        effects.transfers.append(record)
        existing[record.transfer_id] = record
        resolutions[pending.transfer_id] = effects.resolutions[-1]
        return record

    def _transfer(
        self,
        op: TransferSpec,
        group: str | None,
        prior: TransferRecord | None,
        now: datetime,
        effects: LedgerEffects,
        existing: dict[str, TransferRecord],
    ) -> TransferRecord:
        debit, credit = self._account(op.debit_account_id), self._account(op.credit_account_id)
        if prior is not None:
            _same_as(prior, op, None)
            return prior
        if op.amount <= 0:
            raise Invalid("amount must be a positive whole number of minor units")
        if debit.account_id == credit.account_id:
            raise Invalid("a transfer needs two different accounts")
        if debit.currency != credit.currency:
            raise Invalid(
                "accounts have different currencies",
                {"debit": debit.currency, "credit": credit.currency},
            )
        if debit.limited and debit.available < op.amount:
            raise InsufficientFunds(
                "not enough available balance",
                {"reason": "exceeds_credits", "available": debit.available, "amount": op.amount},
            )
        timeout = (
            now + timedelta(seconds=op.timeout_secs) if op.pending and op.timeout_secs else None
        )
        record = self._record(
            op.transfer_id,
            "pending" if op.pending else "single",
            debit.account_id,
            credit.account_id,
            op.amount,
            debit.currency,
            now,
            timeout=timeout,
            code=op.code,
            group=group,
            user_data=op.user_data,
        )
        self._move(
            debit.account_id,
            credit.account_id,
            op.amount,
            pending=op.pending,
            sign=1,
            effects=effects,
        )
        effects.transfers.append(record)
        existing[record.transfer_id] = record
        if op.pending:
            self.pending[record.transfer_id] = record
        return record

    def _release(
        self,
        pending: TransferRecord,
        status: str,
        by: str | None,
        now: datetime,
        effects: LedgerEffects,
    ) -> None:
        self._move(
            pending.debit_account_id,
            pending.credit_account_id,
            pending.amount,
            pending=True,
            sign=-1,
            effects=effects,
        )
        self._resolve(pending, status, by, now, effects)

    def _resolve(
        self,
        pending: TransferRecord,
        status: str,
        by: str | None,
        now: datetime,
        effects: LedgerEffects,
    ) -> None:
        effects.resolutions.append(Resolution(pending.transfer_id, status, by, now))
        self.pending.pop(pending.transfer_id, None)

    def _move(
        self,
        debit_id: UUID,
        credit_id: UUID,
        amount: int,
        *,
        pending: bool,
        sign: int,
        effects: LedgerEffects,
    ) -> None:
        side = "pending" if pending else "posted"
        for account_id, column in ((debit_id, f"debits_{side}"), (credit_id, f"credits_{side}")):
            account = self._account(account_id)
            setattr(account, column, getattr(account, column) + sign * amount)
            delta = effects.deltas.setdefault(account_id, Delta())
            setattr(delta, column, getattr(delta, column) + sign * amount)

    def _account(self, account_id: UUID) -> AccountState:
        account = self.accounts.get(account_id)
        if account is None:
            raise NotFound("no such account", {"account_id": str(account_id)})
        return account

    def _pending_of(self, pending_id: str, existing: dict[str, TransferRecord]) -> TransferRecord:
        pending = self.pending.get(pending_id) or existing.get(pending_id)
        if pending is None or pending.kind != "pending":
            raise NotFound("no such pending transfer", {"pending_id": pending_id})
        return pending

    @staticmethod
    def _record(
        transfer_id: str,
        kind: str,
        debit: UUID,
        credit: UUID,
        amount: int,
        currency: str,
        now: datetime,
        *,
        pending_id: str | None = None,
        timeout: datetime | None = None,
        code: str = "",
        group: str | None = None,
        user_data: dict[str, Any] | None = None,
    ) -> TransferRecord:
        return TransferRecord(
            transfer_id=transfer_id,
            kind=kind,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            currency=currency,
            pending_id=pending_id,
            timeout_at=timeout,
            code=code,
            linked_group=group,
            user_data=user_data,
            created_at=now,
        )


def _restore(mapping: dict[str, Any], before: dict[str, Any]) -> None:
    for key, value in before.items():
        if value is None:
            mapping.pop(key, None)
        else:
            mapping[key] = value


def _same_as(prior: TransferRecord, op: LedgerOp, pending: TransferRecord | None) -> None:
    """An id already used: fine if it asks for the same thing, else the first field that
    differs is named (TigerBeetle's exists_with_different_*)."""
    if isinstance(op, TransferSpec):
        wanted: dict[str, Any] = {
            "kind": "pending" if op.pending else "single",
            "debit_account_id": op.debit_account_id,
            "credit_account_id": op.credit_account_id,
            "amount": op.amount,
            "code": op.code,
        }
    elif isinstance(op, PostSpec):
        assert pending is not None
        wanted = {
            "kind": "post",
            "pending_id": op.pending_id,
            "amount": pending.amount if op.amount is None else op.amount,
        }
    else:
        wanted = {"kind": "void", "pending_id": op.pending_id}
    for name, value in wanted.items():
        if getattr(prior, name) != value:
            raise Conflict(
                f"transfer id already used with a different {name}",
                {"reason": f"exists_with_different_{name}", "transfer_id": prior.transfer_id},
            )
