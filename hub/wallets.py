"""Wallets as the edge sees them: who may see which account, where a transfer is routed, and
the platform's messaging-credit flows built from linked transfers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from actors.ledger import LedgerOp, PostSpec, TransferSpec, VoidSpec
from actors.pool import ShardPool
from actors.wallet_commands import LedgerCommand, route_of
from hub.auth import Principal
from protocols.errors import NotFound
from protocols.permissions import Role
from protocols.wallets import TransferView, WalletView
from storage import ledger as db
from storage import ledger_reports
from storage.ledger_records import AccountState, TransferRecord

USER_CURRENCIES = ("INR", "COIN")


def wallet_view(account: AccountState) -> WalletView:
    return WalletView(
        wallet_id=account.account_id,
        code=account.code,
        currency=account.currency,
        tenant_id=account.tenant_id,
        owner_user_id=account.owner_user_id,
        balance=account.balance,
        available=account.available,
        debits_pending=account.debits_pending,
        credits_pending=account.credits_pending,
        version=account.version,
    )


def transfer_view(record: TransferRecord) -> TransferView:
    return TransferView(
        transfer_id=record.transfer_id,
        kind=record.kind,
        debit_account_id=record.debit_account_id,
        credit_account_id=record.credit_account_id,
        amount=record.amount,
        currency=record.currency,
        pending_id=record.pending_id,
        code=record.code,
    )


class WalletService:
    def __init__(self, *, db_pool: asyncpg.Pool, wallets: ShardPool) -> None:
        self._db = db_pool
        self._wallets = wallets
        # Whether an account is limited never changes: cache it for routing.
        self._limited: dict[UUID, bool] = {}

    # -- reading -------------------------------------------------------------------------------

    async def my_wallets(self, principal: Principal) -> list[WalletView]:
        """The caller's INR and COIN wallets, opened on first use."""
        async with self._db.acquire() as conn:
            for currency in USER_CURRENCIES:
                await db.ensure_account(
                    conn,
                    code="user_wallet",
                    currency=currency,
                    tenant_id=principal.tenant_id,
                    owner_user_id=principal.user_id,
                    limited=True,
                )
            accounts = await db.accounts_of_user(conn, user_id=principal.user_id)
        return [wallet_view(a) for a in accounts]

    async def wallet(self, principal: Principal, wallet_id: UUID) -> AccountState:
        """NotFound unless the caller owns it, administers its tenant, or runs the platform."""
        async with self._db.acquire() as conn:
            account = await db.get_account(conn, account_id=wallet_id)
        if account is None or not self._may_see(principal, account):
            raise NotFound("no such wallet", {"wallet_id": str(wallet_id)})
        return account

    async def wallet_for_staff(self, principal: Principal, wallet_id: UUID) -> AccountState:
        """For holds placed by the tenant's staff: any wallet of their own tenant."""
        async with self._db.acquire() as conn:
            account = await db.get_account(conn, account_id=wallet_id)
        allowed = account is not None and (
            principal.role == Role.PLATFORM_ADMIN or account.tenant_id == principal.tenant_id
        )
        if account is None or not allowed:
            raise NotFound("no such wallet", {"wallet_id": str(wallet_id)})
        return account

    def _may_see(self, principal: Principal, account: AccountState) -> bool:
        if principal.role == Role.PLATFORM_ADMIN:
            return True
        if account.owner_user_id is not None:
            return account.owner_user_id == principal.user_id
        return (
            account.tenant_id is not None
            and account.tenant_id == principal.tenant_id
            and principal.role == Role.TENANT_ADMIN
        )

    async def ledger(
        self, principal: Principal, wallet_id: UUID, before_seq: int | None, limit: int
    ) -> dict[str, Any]:
        await self.wallet(principal, wallet_id)
        async with self._db.acquire() as conn:
            entries = await db.ledger_page(
                conn, account_id=wallet_id, before_seq=before_seq, limit=limit
            )
        cursor = entries[-1]["seq"] if len(entries) == limit else None
        return {"wallet_id": str(wallet_id), "entries": entries, "next_cursor": cursor}

    # -- moving money --------------------------------------------------------------------------

    async def apply(self, ops: tuple[LedgerOp, ...]) -> tuple[TransferRecord, ...]:
        """Route ``ops`` (one transfer or a linked group) to the right wallet actor and wait
        for the committed result. Raises the SevaError the ledger gave."""
        return await self._wallets.submit(LedgerCommand(await self._route(ops), ops))

    async def _route(self, ops: tuple[LedgerOp, ...]) -> UUID:
        first = ops[0]
        if isinstance(first, PostSpec | VoidSpec):
            async with self._db.acquire() as conn:
                found = await db.transfer_route(conn, transfer_id=first.pending_id)
            if found is None:
                raise NotFound("no such pending transfer", {"pending_id": first.pending_id})
            return route_of(*found)
        specs = [op for op in ops if isinstance(op, TransferSpec)]
        for spec in specs:
            if await self._is_limited(spec.debit_account_id):
                return spec.debit_account_id
        return route_of(specs[0].debit_account_id, specs[0].credit_account_id, False)

    async def _is_limited(self, account_id: UUID) -> bool:
        limited = self._limited.get(account_id)
        if limited is None:
            async with self._db.acquire() as conn:
                account = await db.get_account(conn, account_id=account_id)
            if account is None:
                raise NotFound("no such account", {"account_id": str(account_id)})
            limited = self._limited[account_id] = account.limited
        return limited

    async def hold(
        self, wallet: AccountState, *, amount: int, timeout_secs: int, transfer_id: str, code: str
    ) -> TransferRecord:
        """Reserve ``amount`` of a wallet until posted, voided, or timed out."""
        async with self._db.acquire() as conn:
            holding = await db.ensure_account(
                conn, code="wallet_holds", currency=wallet.currency, tenant_id=wallet.tenant_id
            )
        [record] = await self.apply(
            (
                TransferSpec(
                    transfer_id=transfer_id,
                    debit_account_id=wallet.account_id,
                    credit_account_id=holding,
                    amount=amount,
                    code=code,
                    pending=True,
                    timeout_secs=timeout_secs,
                ),
            )
        )
        return record

    # -- messaging credits ---------------------------------------------------------------------

    async def purchase_credits(
        self, *, channel: str, units: int, rate_paise: int, vendor: str, transfer_id: str
    ) -> tuple[TransferRecord, ...]:
        """Credits into the platform's inventory; the cost owed to the vendor, as one group."""
        async with self._db.acquire() as conn:
            source = await db.ensure_account(conn, code="credit_vendor", currency=channel)
            inventory = await db.ensure_account(
                conn, code="credit_inventory", currency=channel, limited=True
            )
            cost = await db.ensure_account(conn, code="credit_cost", currency="INR")
            payable = await db.ensure_account(conn, code="vendor_payable", currency="INR")
        data = {"channel": channel, "units": units, "rate_paise": rate_paise, "vendor": vendor}
        ops: list[LedgerOp] = [
            TransferSpec(
                f"{transfer_id}:units",
                source,
                inventory,
                units,
                code="credit_purchase",
                user_data=data,
            ),
        ]
        if units * rate_paise > 0:
            ops.append(
                TransferSpec(
                    f"{transfer_id}:cost",
                    cost,
                    payable,
                    units * rate_paise,
                    code="credit_purchase_cost",
                    user_data=data,
                )
            )
        return await self.apply(tuple(ops))

    async def allocate_credits(
        self,
        *,
        tenant_id: UUID,
        channel: str,
        units: int,
        rate_paise: int,
        transfer_id: str,
        low_balance_threshold: int | None,
    ) -> tuple[TransferRecord, ...]:
        """From the master inventory to the tenant's credit wallet, sold at the tenant's retail
        rate out of what the platform owes the tenant; all or nothing."""
        async with self._db.acquire() as conn:
            inventory = await db.ensure_account(
                conn, code="credit_inventory", currency=channel, limited=True
            )
            credits = await db.ensure_account(
                conn, code="tenant_credits", currency=channel, tenant_id=tenant_id, limited=True
            )
            payable = await db.ensure_account(
                conn, code="tenant_payable", currency="INR", tenant_id=tenant_id
            )
            sales = await db.ensure_account(conn, code="credit_sales", currency="INR")
            if low_balance_threshold is not None:
                await db.set_low_balance_threshold(
                    conn, account_id=credits, threshold=low_balance_threshold
                )
        data = {
            "channel": channel,
            "units": units,
            "rate_paise": rate_paise,
            "tenant_id": str(tenant_id),
        }
        ops: list[LedgerOp] = [
            TransferSpec(
                f"{transfer_id}:units",
                inventory,
                credits,
                units,
                code="credit_allocation",
                user_data=data,
            ),
        ]
        if units * rate_paise > 0:
            ops.append(
                TransferSpec(
                    f"{transfer_id}:sale",
                    payable,
                    sales,
                    units * rate_paise,
                    code="credit_sale",
                    user_data=data,
                )
            )
        return await self.apply(tuple(ops))

    async def deduct_credits(
        self, *, tenant_id: UUID, channel: str, units: int, transfer_id: str
    ) -> TransferRecord:
        async with self._db.acquire() as conn:
            credits = await db.ensure_account(
                conn, code="tenant_credits", currency=channel, tenant_id=tenant_id, limited=True
            )
            consumed = await db.ensure_account(conn, code="credit_consumed", currency=channel)
        [record] = await self.apply(
            (TransferSpec(transfer_id, credits, consumed, units, code="credit_deduction"),)
        )
        return record

    async def wallet_and_payable(self, tenant_id: UUID, user_id: UUID) -> tuple[UUID, UUID]:
        """The user's INR wallet in the tenant and the tenant's payable account: the two ends
        of paying a booking from the wallet, or of refunding one into it."""
        async with self._db.acquire() as conn:
            wallet = await db.ensure_account(
                conn,
                code="user_wallet",
                currency="INR",
                tenant_id=tenant_id,
                owner_user_id=user_id,
                limited=True,
            )
            payable = await db.ensure_account(
                conn, code="tenant_payable", currency="INR", tenant_id=tenant_id
            )
        return wallet, payable

    async def reserve_credits(
        self, *, tenant_id: UUID, channel: str, units: int, pending_id: str
    ) -> TransferRecord:
        """Reserve ``units`` of the tenant's ``channel`` credits for one message, as a pending
        transfer (idempotent by ``pending_id``); raises ``InsufficientFunds``."""
        async with self._db.acquire() as conn:
            credits = await db.ensure_account(
                conn, code="tenant_credits", currency=channel, tenant_id=tenant_id, limited=True
            )
            consumed = await db.ensure_account(conn, code="credit_consumed", currency=channel)
        [record] = await self.apply(
            (
                TransferSpec(
                    pending_id, credits, consumed, units, code="credit_deduction", pending=True
                ),
            )
        )
        return record

    async def settle_credits(self, pending_id: str, *, spent: bool) -> None:
        """Post (the message went out) or void (it never will) a reservation; settling one
        that is already settled the same way is a no-op."""
        op: LedgerOp = (
            PostSpec(f"{pending_id}:post", pending_id)
            if spent
            else VoidSpec(f"{pending_id}:void", pending_id)
        )
        await self.apply((op,))

    async def credit_wallets(self) -> list[WalletView]:
        async with self._db.acquire() as conn:
            accounts = await db.accounts_by_code(conn, code="tenant_credits")
        return [wallet_view(a) for a in accounts]

    async def credit_profit(self) -> dict[str, Any]:
        async with self._db.acquire() as conn:
            return await ledger_reports.credit_profit(conn)
