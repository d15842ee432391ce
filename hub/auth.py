"""Access tokens (HS256 JWT, rotating keys by ``kid``) and password hashing.

An access token carries ``sub``, ``tenant_id`` (null for platform users), ``role``, ``perms``,
``fam`` (the refresh-token family it came from, if any), ``iat``, ``exp``, and ``kid`` in its
header. Verification pins the algorithm to HS256 — ``none``, RS/HS confusion and unknown
``kid`` are refused — and accepts every key still configured, so old tokens keep working
until their key is removed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocols.errors import Unauthorized
from protocols.permissions import STAFF_ROLES, Perm, Role, permissions_of

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    tenant_id: UUID | None
    role: str
    perms: frozenset[str] = frozenset()
    family_id: UUID | None = None
    expires_at: int = 0

    @property
    def is_platform_admin(self) -> bool:
        return self.role == Role.PLATFORM_ADMIN

    def can(self, perm: str) -> bool:
        return perm in (Perm.PUBLIC, Perm.AUTHENTICATED) or perm in self.perms

    def may_act_in(self, tenant_id: UUID) -> bool:
        return self.is_platform_admin or self.tenant_id == tenant_id

    def is_staff_of(self, tenant_id: UUID) -> bool:
        return self.is_platform_admin or (self.role in STAFF_ROLES and self.tenant_id == tenant_id)


class TokenIssuer:
    def __init__(
        self, keys: Mapping[str, str] | None, *, active_kid: str | None, ttl_secs: int
    ) -> None:
        """``keys`` maps kid → secret; tokens are signed with ``active_kid`` and verified with
        any of them. No keys: a random one per process (development only)."""
        self._keys = dict(keys or {"dev": secrets.token_urlsafe(32)})
        self._active = active_kid or next(iter(self._keys))
        if self._active not in self._keys:
            raise ValueError(f"active kid {self._active!r} has no key")
        for kid, secret in self._keys.items():
            if len(secret) < 32:
                raise ValueError(f"JWT key {kid!r} is shorter than 32 characters")
        self._ttl = ttl_secs

    @property
    def ttl_secs(self) -> int:
        return self._ttl

    def issue(
        self,
        *,
        user_id: UUID,
        tenant_id: UUID | None,
        role: str,
        family_id: UUID | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "tenant_id": str(tenant_id) if tenant_id else None,
            "role": role,
            "perms": sorted(permissions_of(role)),
            "fam": str(family_id) if family_id else None,
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(
            claims, self._keys[self._active], algorithm=ALGORITHM, headers={"kid": self._active}
        )

    def verify(self, token: object) -> Principal:
        """Raises Unauthorized for anything but a valid, unexpired token of ours."""
        if not isinstance(token, str) or not token or len(token) > 8192:
            raise Unauthorized("missing or malformed access token")
        try:
            header = jwt.get_unverified_header(token)
            secret = self._keys.get(str(header.get("kid")))
            if secret is None:
                raise Unauthorized("unknown signing key")
            claims = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat", "role"]},
            )
            role = Role(claims["role"])
            tenant = claims.get("tenant_id")
            family = claims.get("fam")
            perms = claims.get("perms") or []
            if not isinstance(perms, list):
                raise Unauthorized("invalid access token")
            return Principal(
                user_id=UUID(claims["sub"]),
                tenant_id=UUID(tenant) if tenant else None,
                role=role,
                # A token cannot grant more than its role has today.
                perms=frozenset(str(p) for p in perms) & permissions_of(role),
                family_id=UUID(family) if family else None,
                expires_at=int(claims["exp"]),
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("access token expired", {"reason": "token_expired"}) from exc
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as exc:
            raise Unauthorized("invalid access token") from exc


class Passwords:
    """argon2id hashing; hashing and verification run in a thread (deliberately slow)."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        # Compared against when the account does not exist, so timing does not reveal that.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash_async(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify_sync, password_hash or self._dummy, password)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
