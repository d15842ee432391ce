"""Which payment gateways each tenant has, as ready adapters.

:class:`GatewayDirectory` reads a tenant's accounts (``storage/gateway_credentials.py``, under
the tenant's row-level-security scope) at every call, so a change made by any hub process is
seen at the next payment, and keeps one adapter per ``(tenant, gateway)``: rebuilt when the
stored row's ``updated_at`` moves (the replaced adapter is closed; calls already running on it
finish, its idle connections are dropped), closed on :meth:`aclose`. Every adapter runs its
blocking SDK calls on one bounded thread pool the directory owns, so the number of threads does
not grow with the number of tenants.

Secrets are decrypted with the :class:`~protocols.secretbox.SecretBox` given at construction;
without one (``SEVA_SECRET_KEY`` unset on an external database) nothing can be stored, and
:meth:`check_stored_credentials` refuses to start over accounts it could not read.

Errors: ``NotFound`` (gateway not configured for the tenant), ``Unavailable`` (no secret key;
directory closed), ``SecretUnreadable`` (a stored secret does not decrypt).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from protocols.errors import NotFound, Unavailable
from protocols.gateways.cashfree_adapter import CashfreeGateway
from protocols.gateways.fees import FeeSchedule
from protocols.gateways.interface import PaymentGateway
from protocols.gateways.razorpay_adapter import RazorpayGateway
from protocols.secretbox import SecretBox
from storage import gateway_credentials as store
from storage.tenancy import tenant_scope

log = logging.getLogger(__name__)

DEFAULT_MAX_WORKERS = 16
DEFAULT_REQUEST_TIMEOUT_SECS = 10.0


class StoredCredentialsUnreadable(RuntimeError):
    """Raised at startup: gateway accounts are stored but cannot be decrypted (no
    ``SEVA_SECRET_KEY``, or not the key they were stored with)."""


@dataclass
class TenantGateway:
    """One of a tenant's enabled gateways, as routing and payments use it."""

    name: str
    fees: FeeSchedule
    adapter: PaymentGateway
    key_id: str = ""  # public: the app's checkout needs it (Razorpay)


@dataclass(frozen=True)
class _Cached:
    updated_at: datetime
    adapter: PaymentGateway


class GatewayDirectory:
    def __init__(
        self,
        db: asyncpg.Pool,
        box: SecretBox | None,
        *,
        max_workers: int = DEFAULT_MAX_WORKERS,
        request_timeout_secs: float = DEFAULT_REQUEST_TIMEOUT_SECS,
    ) -> None:
        self._db = db
        self._box = box
        self._max_workers = max_workers
        self._request_timeout_secs = request_timeout_secs
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="gateway-sdk"
        )
        self._adapters: dict[tuple[UUID, str], _Cached] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    def secret_box(self) -> SecretBox:
        """The box that seals credentials. Raises ``Unavailable`` when the hub has no key."""
        if self._box is None:
            raise Unavailable(
                "gateway credentials cannot be stored or read: SEVA_SECRET_KEY is not set",
                {"reason": "secret_key_unset"},
            )
        return self._box

    async def check_stored_credentials(self) -> None:
        """At startup: refuse (:class:`StoredCredentialsUnreadable`) to run without a key, or
        with a key that opens none of them, when accounts are stored. Accounts that alone do not
        decrypt (a damaged row) are logged; their tenants' payments through them will fail."""
        async with self._db.acquire() as conn:
            stored = await store.count_accounts(conn)
            if stored == 0:
                return
            if self._box is None:
                raise StoredCredentialsUnreadable(
                    f"{stored} gateway account(s) are stored encrypted but SEVA_SECRET_KEY is "
                    "not set: set it to the key they were stored with"
                )
            unreadable = await store.unreadable_accounts(conn, self._box)
        if len(unreadable) == stored:
            raise StoredCredentialsUnreadable(
                f"SEVA_SECRET_KEY decrypts none of the {stored} stored gateway account(s): it "
                "is not the key they were stored with"
            )
        for tenant_id, gateway in unreadable:
            log.error("stored %s credentials of tenant %s do not decrypt", gateway, tenant_id)

    async def gateways_for(self, tenant_id: UUID) -> list[TenantGateway]:
        """The tenant's enabled gateways, lowest priority number first (ties in routing go to
        the earlier one). Empty when none is configured."""
        self._check_open()
        if self._box is None:
            async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
                if await store.list_configs(conn, tenant_id=tenant_id):
                    self.secret_box()  # raises: configured, but we cannot read them
            return []
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            accounts = await store.list_accounts(conn, self._box, tenant_id=tenant_id)
        return [
            TenantGateway(
                name=account.config.gateway,
                fees=account.config.fees,
                adapter=await self._adapter_of(account),
                key_id=account.config.key_id,
            )
            for account in accounts
        ]

    async def adapter(self, tenant_id: UUID, gateway: str) -> PaymentGateway:
        """The tenant's adapter for ``gateway``, enabled or not (a disabled gateway still has
        to answer webhooks, fetches and refunds of its earlier payments). Raises ``NotFound``
        when the tenant has no account there."""
        self._check_open()
        box = self.secret_box()
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            account = await store.get_account(conn, box, tenant_id=tenant_id, gateway=gateway)
        if account is None:
            raise NotFound(f"{gateway} is not configured for this tenant", {"gateway": gateway})
        return await self._adapter_of(account)

    async def aclose(self) -> None:
        """Close every adapter, then the shared thread pool (waiting for calls in flight)."""
        self._closed = True
        async with self._lock:
            cached, self._adapters = list(self._adapters.values()), {}
        for entry in cached:
            await self._close_quietly(entry.adapter)
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    # -- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the hub is shutting down")

    async def _adapter_of(self, account: store.GatewayAccount) -> PaymentGateway:
        key = (account.config.tenant_id, account.config.gateway)
        updated_at = account.config.updated_at
        async with self._lock:
            self._check_open()
            cached = self._adapters.get(key)
            # A reader holding an older snapshot than the cache keeps the newer adapter.
            if cached is not None and cached.updated_at >= updated_at:
                return cached.adapter
            adapter = self._build(account)
            self._adapters[key] = _Cached(updated_at, adapter)
        if cached is not None:
            await self._close_quietly(cached.adapter)
        return adapter

    def _build(self, account: store.GatewayAccount) -> PaymentGateway:
        gateway = account.config.gateway
        if gateway == "razorpay":
            return RazorpayGateway(
                account.credentials,
                executor=self._executor,
                request_timeout_secs=self._request_timeout_secs,
            )
        if gateway == "cashfree":
            return CashfreeGateway(
                account.credentials,
                executor=self._executor,
                max_workers=self._max_workers,  # sizes its connection pool to the threads
                request_timeout_secs=self._request_timeout_secs,
            )
        raise NotFound(f"no adapter for gateway {gateway!r}")

    @staticmethod
    async def _close_quietly(adapter: PaymentGateway) -> None:
        try:
            await adapter.aclose()
        except Exception:  # closing must not fail the call that replaced it
            log.exception("closing a %s adapter failed", adapter.name)
