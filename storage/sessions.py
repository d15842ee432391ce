"""Refresh-token families: issue, rotate on every use, revoke a family on reuse."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

import asyncpg

from storage import control


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class IssuedRefresh:
    token: str
    family_id: UUID
    expires_at: datetime


class RotationOutcome(StrEnum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REUSED = "reused"  # theft detected: the family is now revoked


@dataclass(frozen=True)
class Rotation:
    outcome: RotationOutcome
    user_id: UUID | None = None
    tenant_id: UUID | None = None
    issued: IssuedRefresh | None = None


async def issue_refresh(
    conn: asyncpg.Connection,
    *,
    user_id: UUID,
    tenant_id: UUID | None,
    ttl: timedelta,
    family_id: UUID | None = None,
) -> IssuedRefresh:
    token = secrets.token_urlsafe(32)
    family = family_id or uuid.uuid4()
    expires = datetime.now(UTC) + ttl
    await conn.execute(
        "INSERT INTO refresh_tokens (id, family_id, user_id, tenant_id, token_hash, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.uuid4(),
        family,
        user_id,
        tenant_id,
        _digest(token),
        expires,
    )
    return IssuedRefresh(token=token, family_id=family, expires_at=expires)


async def rotate_refresh(conn: asyncpg.Connection, *, token: str, ttl: timedelta) -> Rotation:
    """Exchange a refresh token for a new one of the same family, once.

    Runs in its own transaction. Presenting a token that was already rotated revokes its
    whole family (announced to every hub so the user's sockets are dropped).
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, family_id, user_id, tenant_id, expires_at, rotated_at, revoked_at "
            "FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            _digest(token),
        )
        if row is None:
            return Rotation(RotationOutcome.UNKNOWN)
        if row["revoked_at"] is not None:
            return Rotation(RotationOutcome.REVOKED, row["user_id"], row["tenant_id"])
        if row["rotated_at"] is not None:
            await revoke_family(
                conn, family_id=row["family_id"], user_id=row["user_id"], reason="reuse_detected"
            )
            return Rotation(RotationOutcome.REUSED, row["user_id"], row["tenant_id"])
        if row["expires_at"] <= datetime.now(UTC):
            return Rotation(RotationOutcome.EXPIRED, row["user_id"], row["tenant_id"])
        await conn.execute("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1", row["id"])
        issued = await issue_refresh(
            conn,
            user_id=row["user_id"],
            tenant_id=row["tenant_id"],
            ttl=ttl,
            family_id=row["family_id"],
        )
        return Rotation(RotationOutcome.ROTATED, row["user_id"], row["tenant_id"], issued)


async def revoke_family(
    conn: asyncpg.Connection, *, family_id: UUID, user_id: UUID, reason: str
) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2 "
        "WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        reason,
    )
    await control.announce(
        conn,
        {
            "kind": "session_revoked",
            "reason": reason,
            "user_id": str(user_id),
            "families": [str(family_id)],
            # On theft every socket of the user goes; on logout only that device's.
            "all_sockets": reason == "reuse_detected",
        },
    )


async def family_of(conn: asyncpg.Connection, *, token: str) -> tuple[UUID, UUID] | None:
    row = await conn.fetchrow(
        "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1", _digest(token)
    )
    return (row["family_id"], row["user_id"]) if row else None
