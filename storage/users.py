"""Accounts as the hub needs them for login."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class UserRecord:
    user_id: UUID
    tenant_id: UUID | None
    email: str
    name: str
    role: str
    password_hash: str


async def find_user_by_email(conn: asyncpg.Connection, *, email: str) -> UserRecord | None:
    row = await conn.fetchrow(
        "SELECT id, tenant_id, email, name, role, password_hash FROM users "
        "WHERE lower(email) = lower($1)",
        email,
    )
    if row is None:
        return None
    return UserRecord(
        user_id=row["id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        password_hash=row["password_hash"],
    )
