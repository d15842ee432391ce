"""Encryption at rest for small secrets (gateway key secrets, webhook secrets).

AES-256-GCM (``cryptography``'s ``AESGCM``) under one 32-byte key, ``SEVA_SECRET_KEY``. Every
secret gets a fresh random 96-bit nonce; the stored form is ``version (1 byte) || nonce (12) ||
ciphertext || tag (16)``. The associated data is ``"<tenant_id>:<gateway>:<field>"``: it is not
stored, it must be given again to decrypt, so a ciphertext copied into another tenant's row, or
from one column to another, fails authentication instead of decrypting.

Random 96-bit nonces are safe for far more encryptions than a hub will ever make under one key
(NIST's bound for random nonces is 2**32 messages per key).

Errors: :class:`SecretUnreadable` (an ``Internal`` error: wrong key, tampered or moved
ciphertext, unknown format); ``ValueError`` for a key that is not base64 of 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocols.errors import Internal

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_VERSION = b"\x01"
_TAG_BYTES = 16


class SecretUnreadable(Internal):
    """A stored secret did not decrypt: the key is not the one it was encrypted with, or the
    ciphertext was altered or moved to another tenant, gateway or field."""


def generate_key() -> str:
    """A new random key, base64-encoded (the form ``SEVA_SECRET_KEY`` takes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def decode_key(text: str) -> bytes:
    """The 32 key bytes from their base64 form. Raises ``ValueError`` otherwise."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret key must be base64 (of 32 random bytes)") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"the secret key must be {KEY_BYTES} bytes, base64-encoded")
    return key


def associated_data(tenant_id: UUID, gateway: str, field: str) -> bytes:
    return f"{tenant_id}:{gateway}:{field}".encode()


class SecretBox:
    """Encrypts and decrypts one tenant's secrets, bound to where they are stored.

    Holds the key, nothing else; safe to share between tasks and threads.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the secret key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_base64(cls, text: str) -> SecretBox:
        return cls(decode_key(text))

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: str, *, tenant_id: UUID, gateway: str, field: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, plaintext.encode("utf-8"), associated_data(tenant_id, gateway, field)
        )
        return FORMAT_VERSION + nonce + sealed

    def decrypt(self, stored: bytes, *, tenant_id: UUID, gateway: str, field: str) -> str:
        """Raises :class:`SecretUnreadable`; never returns a guess."""
        where = {"tenant_id": str(tenant_id), "gateway": gateway, "field": field}
        if len(stored) < 1 + NONCE_BYTES + _TAG_BYTES or stored[:1] != FORMAT_VERSION:
            raise SecretUnreadable("a stored secret has an unknown format", where)
        nonce, sealed = stored[1 : 1 + NONCE_BYTES], stored[1 + NONCE_BYTES :]
        try:
            plaintext = self._aead.decrypt(
                nonce, sealed, associated_data(tenant_id, gateway, field)
            )
        except InvalidTag as exc:
            raise SecretUnreadable(
                "a stored secret does not decrypt with this SEVA_SECRET_KEY "
                "(wrong key, or the ciphertext was altered or moved)",
                where,
            ) from exc
        return plaintext.decode("utf-8")
