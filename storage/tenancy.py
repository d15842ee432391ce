"""Tenant-scoped transactions: the second wall between tenants.

Inside :func:`tenant_scope` the connection runs as role ``seva_tenant`` with ``seva.tenant_id``
set for the transaction only, so PostgreSQL row-level security (migration 0002) hides and
refuses every other tenant's rows even if a query forgets its ``WHERE tenant_id = ...``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal
from uuid import UUID

import asyncpg


@asynccontextmanager
async def tenant_scope(
    pool: asyncpg.Pool,
    tenant_id: UUID,
    *,
    readonly: bool = False,
    isolation: Literal["read_committed", "repeatable_read", "serializable"] = "read_committed",
) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn, conn.transaction(readonly=readonly, isolation=isolation):
        # set_config(..., true) is SET LOCAL: it ends with the transaction, so a pooled
        # connection never carries one tenant's scope into the next user's work.
        await conn.execute(
            "SELECT set_config('role', 'seva_tenant', true), "
            "set_config('seva.tenant_id', $1, true)",
            str(tenant_id),
        )
        yield conn


async def enter_tenant_scope(conn: asyncpg.Connection, tenant_id: UUID) -> None:
    """Scope the rest of the caller's open transaction to ``tenant_id`` (as
    :func:`tenant_scope` does), after work that had to run unscoped in the same transaction."""
    await conn.execute(
        "SELECT set_config('role', 'seva_tenant', true), set_config('seva.tenant_id', $1, true)",
        str(tenant_id),
    )
