"""Access tokens (HS256 JWT) and password checks. Full identity and RBAC come later.

``alg`` is pinned on verification, so ``none`` and algorithm confusion are refused.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocols.errors import Unauthorized

ALGORITHM = "HS256"
ROLES = ("user", "staff", "tenant_admin", "platform_admin")
STAFF_ROLES = frozenset({"staff", "tenant_admin"})


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    tenant_id: UUID | None
    role: str

    def may_act_in(self, tenant_id: UUID) -> bool:
        return self.role == "platform_admin" or self.tenant_id == tenant_id

    def is_staff_of(self, tenant_id: UUID) -> bool:
        return self.role == "platform_admin" or (
            self.role in STAFF_ROLES and self.tenant_id == tenant_id
        )


class TokenIssuer:
    def __init__(self, secret: str | None, *, ttl_secs: int, kid: str = "k1") -> None:
        # A random key means tokens die with the process: fine for development only.
        self._secret = secret or secrets.token_urlsafe(32)
        self._ttl = ttl_secs
        self._kid = kid

    @property
    def ttl_secs(self) -> int:
        return self._ttl

    def issue(self, *, user_id: UUID, tenant_id: UUID | None, role: str) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "tenant_id": str(tenant_id) if tenant_id else None,
            "role": role,
            "iat": now,
            "exp": now + self._ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"kid": self._kid})

    def verify(self, token: object) -> Principal:
        """Raises Unauthorized for anything but a valid, unexpired token of ours."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise Unauthorized("missing or malformed access token")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self._kid:
                raise Unauthorized("unknown signing key")
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat", "role"]},
            )
            role = claims["role"]
            if role not in ROLES:
                raise Unauthorized("unknown role in token")
            tenant = claims.get("tenant_id")
            return Principal(
                user_id=UUID(claims["sub"]), tenant_id=UUID(tenant) if tenant else None, role=role
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("access token expired") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as exc:
            raise Unauthorized("invalid access token") from exc


class Passwords:
    """argon2id hashing; verification runs in a thread because it is deliberately slow."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        # Compared against when the account does not exist, so timing does not reveal that.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify_sync, password_hash or self._dummy, password)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
