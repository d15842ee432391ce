"""Students of a study library: bulk import (all rows or none) and fee-due notices."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from protocols.errors import Conflict

# Imported students have no password until they set one: no hash verifies against this.
NO_PASSWORD = "!imported"


@dataclass(frozen=True)
class NewStudent:
    line: int
    name: str
    phone: str
    email: str | None
    language: str


@dataclass(frozen=True)
class FeeNotice:
    user_id: UUID
    idempotency_key: str
    amount_paise: int
    due_date: date
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "user_id": str(self.user_id),
            "amount_paise": self.amount_paise,
            "due_date": self.due_date.isoformat(),
            "idempotency_key": self.idempotency_key,
            "created_at": self.created_at.isoformat(),
        }


async def taken_contacts(
    conn: asyncpg.Connection, *, phones: Sequence[str], emails: Sequence[str]
) -> tuple[set[str], set[str]]:
    """Which of these phones and (lower-cased) emails are registered already, in any tenant
    (both are unique across the platform): call it on a connection outside a tenant scope."""
    rows = await conn.fetch(
        "SELECT phone, lower(email) AS email FROM users "
        "WHERE phone = ANY($1::text[]) OR lower(email) = ANY($2::text[])",
        list(phones),
        [e.lower() for e in emails],
    )
    phone_set = set(phones)
    email_set = {e.lower() for e in emails}
    return (
        {r["phone"] for r in rows if r["phone"] in phone_set},
        {r["email"] for r in rows if r["email"] in email_set},
    )


async def insert_students(
    conn: asyncpg.Connection, *, tenant_id: UUID, students: Sequence[NewStudent]
) -> list[UUID]:
    """Create every student (role ``user``) in one statement, in the caller's transaction.
    Raises Conflict if a phone or email was registered meanwhile (nothing is created)."""
    try:
        rows = await conn.fetch(
            """
            INSERT INTO users (tenant_id, email, phone, name, role, language, password_hash)
            SELECT $1, x.email, x.phone, x.name, 'user', x.language, $6
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $7::int[])
                 AS x(email, phone, name, language, ord)
            ORDER BY x.ord
            RETURNING id
            """,
            tenant_id,
            [s.email for s in students],
            [s.phone for s in students],
            [s.name for s in students],
            [s.language for s in students],
            NO_PASSWORD,
            list(range(len(students))),
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(
            "a phone or email of the file was registered meanwhile; nothing was imported",
            {"reason": "registered_meanwhile"},
        ) from exc
    return [r["id"] for r in rows]


async def stored_import(
    conn: asyncpg.Connection, *, tenant_id: UUID, key: str
) -> tuple[str, dict[str, Any]] | None:
    row = await conn.fetchrow(
        "SELECT body_sha256, result FROM student_imports "
        "WHERE tenant_id = $1 AND idempotency_key = $2",
        tenant_id,
        key,
    )
    if row is None:
        return None
    result = row["result"]
    return row["body_sha256"], json.loads(result) if isinstance(result, str) else result


async def store_import(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    key: str,
    body_sha256: str,
    result: dict[str, Any],
    by_user_id: UUID,
) -> None:
    await conn.execute(
        "INSERT INTO student_imports (tenant_id, idempotency_key, body_sha256, result, "
        "created_by) VALUES ($1, $2, $3, $4::jsonb, $5)",
        tenant_id,
        key,
        body_sha256,
        json.dumps(result),
        by_user_id,
    )


async def is_student(conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM users WHERE tenant_id = $1 AND id = $2 AND role = 'user'",
            tenant_id,
            user_id,
        )
    )


async def record_fee_notice(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    user_id: UUID,
    key: str,
    amount_paise: int,
    due_date: date,
    by_user_id: UUID,
) -> tuple[FeeNotice, bool]:
    """The notice of this key: (made now, True) or (the earlier one, False)."""
    made = await conn.fetchval(
        """
        INSERT INTO fee_notices (tenant_id, user_id, idempotency_key, amount_paise, due_date,
                                 created_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT DO NOTHING RETURNING true
        """,
        tenant_id,
        user_id,
        key,
        amount_paise,
        due_date,
        by_user_id,
    )
    row = await conn.fetchrow(
        "SELECT user_id, idempotency_key, amount_paise, due_date, created_at FROM fee_notices "
        "WHERE tenant_id = $1 AND user_id = $2 AND idempotency_key = $3",
        tenant_id,
        user_id,
        key,
    )
    assert row is not None
    notice = FeeNotice(
        row["user_id"],
        row["idempotency_key"],
        row["amount_paise"],
        row["due_date"],
        row["created_at"],
    )
    return notice, bool(made)
