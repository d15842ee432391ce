"""Short-lived, signed QR tokens a student shows at a library's desk.

A token is ``v1.<user id hex>.<tenant id hex>.<expiry unix secs>.<signature>``, the signature
an HMAC-SHA256 (base64url) over the rest under a key derived from ``SEVA_SECRET_KEY`` (else
from the JWT signing key, so every hub of a deployment verifies it; without either, random per
process). It proves who the student is and nothing else: the check-in finds the booking.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from uuid import UUID

from hub.settings import Settings
from protocols.errors import Invalid
from protocols.secretbox import decode_key

_PREFIX = "v1"
_LABEL = b"seva-attendance-qr-v1"


@dataclass(frozen=True)
class QrIdentity:
    user_id: UUID
    tenant_id: UUID
    expires_at: int


def qr_signing_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        root = decode_key(settings.secret_key.get_secret_value())
    else:
        keys = settings.signing_keys()
        if not keys:
            return os.urandom(32)
        kid = settings.jwt_active_kid or sorted(keys)[0]
        root = keys.get(kid, next(iter(keys.values()))).encode()
    return hmac.new(root, _LABEL, hashlib.sha256).digest()


class QrTokens:
    def __init__(self, key: bytes, *, ttl_secs: int) -> None:
        self._key = key
        self.ttl_secs = ttl_secs

    def issue(self, *, user_id: UUID, tenant_id: UUID, now: float | None = None) -> QrIdentity:
        expires = int(now if now is not None else time.time()) + self.ttl_secs
        return QrIdentity(user_id, tenant_id, expires)

    def encode(self, identity: QrIdentity) -> str:
        body = f"{_PREFIX}.{identity.user_id.hex}.{identity.tenant_id.hex}.{identity.expires_at}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, *, now: float | None = None) -> QrIdentity:
        """Raises Invalid (``details.reason``: ``qr_malformed``, ``qr_signature``,
        ``qr_expired``)."""
        parts = token.strip().split(".")
        if len(parts) != 5 or parts[0] != _PREFIX:
            raise Invalid("not a Seva Hub QR token", {"reason": "qr_malformed"})
        body = ".".join(parts[:4])
        # As bytes: compare_digest refuses str with non-ASCII characters (the token is the
        # caller's), which would be a TypeError instead of a refusal.
        if not hmac.compare_digest(self._sign(body).encode(), parts[4].encode()):
            raise Invalid("the QR token's signature does not check out", {"reason": "qr_signature"})
        try:
            identity = QrIdentity(UUID(hex=parts[1]), UUID(hex=parts[2]), int(parts[3]))
        except ValueError as exc:
            raise Invalid("not a Seva Hub QR token", {"reason": "qr_malformed"}) from exc
        if identity.expires_at < (now if now is not None else time.time()):
            raise Invalid(
                "the QR token has expired: ask the student to refresh it",
                {"reason": "qr_expired"},
            )
        return identity

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
