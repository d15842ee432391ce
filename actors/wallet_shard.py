"""One wallet shard: a Ray actor hosting the logical actors of many wallets (accounts).

The same scheme as :mod:`actors.shard` for tenants: one batch at a time under a lock, the pure
rules of :mod:`actors.ledger`, one PostgreSQL transaction per batch (group commit), a reply only
after commit, state rebuilt from the database after a restart, and a timer that expires pending
transfers. Accounts whose id hashes to this shard are *owned*: their writes are fenced by
version. Other accounts a transfer touches only receive increments, which commute.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from actors.ledger import Ledger, LedgerEffects, PostSpec, TransferSpec, VoidSpec
from actors.placement import shard_for
from actors.shard_host import TRANSIENT_DB_ERRORS, ShardHost
from actors.wallet_commands import LedgerCommand, route_of
from protocols.errors import InsufficientFunds, Internal, Invalid, SevaError, Unavailable
from storage import ledger as db
from storage.ledger_records import Resolution, TransferRecord

log = logging.getLogger(__name__)

Result = tuple[TransferRecord, ...] | SevaError


class WalletShard(ShardHost):
    def __init__(
        self,
        *,
        shard_index: int,
        shard_count: int,
        dsn: str,
        pool_size: int = 4,
        idle_evict_secs: float = 300.0,
    ) -> None:
        super().__init__(
            shard_index=shard_index,
            shard_count=shard_count,
            dsn=dsn,
            pool_size=pool_size,
            idle_evict_secs=idle_evict_secs,
        )
        self._ledger = Ledger()
        self._last_used: dict[UUID, float] = {}
        self._reload_pending = False

    def _state_stats(self) -> dict[str, Any]:
        return {"accounts": len(self._ledger.accounts), "pending": len(self._ledger.pending)}

    def _owns(self, account_id: UUID) -> bool:
        return shard_for(account_id, self._count) == self._index

    async def _on_start(self, conn: asyncpg.Connection) -> None:
        await self._load_pending(conn)

    async def _load_pending(self, conn: asyncpg.Connection) -> None:
        """Pending transfers this shard is responsible for, so their timeouts fire."""
        mine = [
            t
            for t, limited in await db.unresolved_pending(conn)
            if self._owns(route_of(t.debit_account_id, t.credit_account_id, limited))
        ]
        await self._ensure_accounts(
            conn, {a for t in mine for a in (t.debit_account_id, t.credit_account_id)}
        )
        for transfer in mine:
            self._ledger.pending[transfer.transfer_id] = transfer

    # -- batches -------------------------------------------------------------------------------

    async def _apply_locked(self, commands: list[LedgerCommand]) -> list[Result]:
        for attempt in range(3):
            try:
                return await self._apply_once(commands)
            except db.StaleAccount:
                log.info("wallet shard %d: stale account, reloading (%d)", self._index, attempt)
                self._forget_all()
            except TRANSIENT_DB_ERRORS as exc:
                self._forget_all()
                log.warning("wallet shard %d: database error: %r", self._index, exc)
                return [Unavailable("ledger store is not reachable; retry")] * len(commands)
            except Exception:
                self._forget_all()
                log.exception("wallet shard %d: unexpected error", self._index)
                return [Internal("unexpected error")] * len(commands)
        return [Unavailable("ledger changed concurrently; retry")] * len(commands)

    async def _apply_once(self, commands: list[LedgerCommand]) -> list[Result]:
        assert self._pool is not None
        now = datetime.now(UTC)
        ops = [op for c in commands for op in c.ops]
        results: list[Result | None] = [None] * len(commands)
        async with self._pool.acquire() as conn:
            if self._reload_pending:
                await self._load_pending(conn)
                self._reload_pending = False
            pending_ids = {op.pending_id for op in ops if isinstance(op, PostSpec | VoidSpec)}
            existing = await db.load_transfers(
                conn, transfer_ids={op.transfer_id for op in ops} | pending_ids
            )
            resolutions: dict[str, Resolution] = await db.load_resolutions(
                conn, pending_ids=pending_ids
            )
            accounts = {
                a
                for op in ops
                if isinstance(op, TransferSpec)
                for a in (op.debit_account_id, op.credit_account_id)
            } | {
                a
                for p in pending_ids
                if p in existing
                for a in (existing[p].debit_account_id, existing[p].credit_account_id)
            }
            await self._ensure_accounts(conn, accounts)
            effects = LedgerEffects()
            for i, command in enumerate(commands):
                try:
                    self._check_route(command)
                    results[i] = self._ledger.apply_group(
                        command.ops,
                        existing=existing,
                        resolutions=resolutions,
                        now=now,
                        effects=effects,
                    )
                except SevaError as exc:
                    results[i] = exc
            refused = {
                op.debit_account_id
                for command, result in zip(commands, results, strict=True)
                if isinstance(result, InsufficientFunds)
                for op in command.ops
                if isinstance(op, TransferSpec)
            }
            if refused and await self._any_stale(conn, refused):
                # Another shard credited it (credits commute, so they are not fenced): what we
                # refused on may be out of date. Nothing is committed yet; reload and redo all.
                raise db.StaleAccount("a refused account was credited elsewhere")
            if effects:
                await self._commit(conn, effects)
        mono = time.monotonic()
        for account_id in accounts:
            self._last_used[account_id] = mono
        return [r if r is not None else Internal("no result") for r in results]

    def _check_route(self, command: LedgerCommand) -> None:
        """A limited account may only be debited by its own actor: the hub must route there."""
        for op in command.ops:
            if isinstance(op, TransferSpec):
                debit = self._ledger.accounts.get(op.debit_account_id)
                if debit is not None and debit.limited and op.debit_account_id != command.wallet_id:
                    raise Invalid(
                        "a limited account can only be debited through its own wallet",
                        {"account_id": str(op.debit_account_id)},
                    )
        if not self._owns(command.wallet_id):
            raise Internal("command routed to the wrong wallet shard")

    async def _commit(self, conn: asyncpg.Connection, effects: LedgerEffects) -> None:
        deltas = {
            a: (d.debits_posted, d.credits_posted, d.debits_pending, d.credits_pending)
            for a, d in effects.deltas.items()
        }
        # Only limited accounts we own need fencing: their balance checks relied on what we
        # loaded. Every other account just receives increments, which commute; fencing a busy
        # revenue account credited from every shard would only cause endless reloads.
        # In-memory versions are the loaded ones: the rules never change them.
        fenced = {
            a: account.version
            for a in deltas
            if (account := self._ledger.accounts.get(a)) is not None
            and account.limited
            and self._owns(a)
        }
        async with conn.transaction():
            updated, _events = await db.commit_ledger(
                conn,
                transfers=effects.transfers,
                resolutions=effects.resolutions,
                deltas=deltas,
                fenced_versions=fenced,
            )
        for account in updated:
            self._ledger.accounts[account.account_id] = account

    async def _any_stale(self, conn: asyncpg.Connection, account_ids: set[UUID]) -> bool:
        for account in await db.load_accounts(conn, account_ids=list(account_ids)):
            cached = self._ledger.accounts.get(account.account_id)
            if cached is not None and cached.version != account.version:
                return True
        return False

    async def _ensure_accounts(self, conn: asyncpg.Connection, account_ids: set[UUID]) -> None:
        missing = [a for a in account_ids if a not in self._ledger.accounts]
        if not missing:
            return
        for account in await db.load_accounts(conn, account_ids=missing):
            self._ledger.accounts[account.account_id] = account

    def _forget_all(self) -> None:
        """Throw the cached state away; it is rebuilt from the database before the next use."""
        self._ledger = Ledger()
        self._reload_pending = True

    def _evict_idle(self) -> None:
        cutoff = time.monotonic() - self._idle_evict_secs
        needed = {
            a
            for p in self._ledger.pending.values()
            for a in (p.debit_account_id, p.credit_account_id)
        }
        for account_id in list(self._ledger.accounts):
            if account_id not in needed and self._last_used.get(account_id, 0.0) < cutoff:
                del self._ledger.accounts[account_id]
                self._last_used.pop(account_id, None)

    # -- pending timeouts ----------------------------------------------------------------------

    def _next_deadline(self) -> datetime | None:
        return self._ledger.next_timeout()

    async def _on_timer(self) -> None:
        await self._expire_due()

    async def _expire_due(self) -> None:
        assert self._pool is not None
        effects = LedgerEffects()
        async with self._pool.acquire() as conn:
            due = [
                p
                for p in self._ledger.pending.values()
                if p.timeout_at and p.timeout_at <= datetime.now(UTC)
            ]
            await self._ensure_accounts(
                conn, {a for p in due for a in (p.debit_account_id, p.credit_account_id)}
            )
            # A pending resolved meanwhile by another shard generation is dropped, not expired.
            already = await db.load_resolutions(conn, pending_ids=[p.transfer_id for p in due])
            for pending_id in already:
                self._ledger.pending.pop(pending_id, None)
            self._ledger.expire_due(datetime.now(UTC), effects)
            if effects:
                try:
                    await self._commit(conn, effects)
                except BaseException:
                    self._forget_all()
                    raise
