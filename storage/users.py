"""Accounts: registration, lookup for login, profile."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from protocols.errors import Conflict

_COLUMNS = "id, tenant_id, email, phone, name, role, language, password_hash, created_at"


@dataclass(frozen=True)
class UserRecord:
    user_id: UUID
    tenant_id: UUID | None
    email: str | None
    phone: str | None
    name: str
    role: str
    language: str
    password_hash: str


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        user_id=row["id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        phone=row["phone"],
        name=row["name"],
        role=row["role"],
        language=row["language"],
        password_hash=row["password_hash"],
    )


async def find_user_for_login(
    conn: asyncpg.Connection, *, email: str | None, phone: str | None
) -> UserRecord | None:
    if email is not None:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM users WHERE lower(email) = lower($1)", email
        )
    else:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE phone = $1", phone)
    return _user(row) if row else None


async def find_user_by_email(conn: asyncpg.Connection, *, email: str) -> UserRecord | None:
    return await find_user_for_login(conn, email=email, phone=None)


async def get_user(
    conn: asyncpg.Connection, *, tenant_id: UUID | None, user_id: UUID
) -> UserRecord | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM users WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2",
        user_id,
        tenant_id,
    )
    return _user(row) if row else None


async def create_user(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID | None,
    email: str | None,
    phone: str | None,
    name: str,
    role: str,
    language: str,
    password_hash: str,
) -> UserRecord:
    """Raises Conflict if the email or phone is already registered."""
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO users (tenant_id, email, phone, name, role, language, password_hash)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}
            """,
            tenant_id,
            email,
            phone,
            name,
            role,
            language,
            password_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        field = "phone" if "phone" in (exc.constraint_name or "") else "email"
        raise Conflict(f"this {field} is already registered", {"field": field}) from exc
    assert row is not None
    return _user(row)


async def update_profile(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID | None,
    user_id: UUID,
    name: str | None,
    language: str | None,
    phone: str | None,
    email: str | None,
) -> UserRecord | None:
    try:
        row = await conn.fetchrow(
            f"""
            UPDATE users SET name = coalesce($3, name), language = coalesce($4, language),
                   phone = coalesce($5, phone), email = coalesce($6, email), updated_at = now()
            WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2
            RETURNING {_COLUMNS}
            """,
            user_id,
            tenant_id,
            name,
            language,
            phone,
            email,
        )
    except asyncpg.UniqueViolationError as exc:
        field = "phone" if "phone" in (exc.constraint_name or "") else "email"
        raise Conflict(f"this {field} is already registered", {"field": field}) from exc
    return _user(row) if row else None


async def count_staff(conn: asyncpg.Connection, *, tenant_id: UUID) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM users WHERE tenant_id = $1 AND role IN ('staff', 'tenant_admin')",
        tenant_id,
    )
