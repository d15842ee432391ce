"""File stores: where booking reports (photos, videos, PDFs) live, and the signed URLs through
which clients move the bytes themselves (the hub never proxies an S3 upload).

Two adapters implement :class:`FileStore` (``protocols/filestores/``): ``S3FileStore`` (any
S3 API through aiobotocore: AWS, MinIO, moto in tests) and ``LocalFileStore`` (a directory,
with URLs signed by the hub and served under ``/api/v1/files/``; the embedded default).
Both raise only the project's error tree: a store that cannot be reached or refuses us is
``Unavailable`` (retry the same request), never an SDK exception.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

SAFE_NAME_MAX_CHARS = 100


@dataclass(frozen=True)
class PresignedRequest:
    """What a client sends to move the bytes: ``method`` to ``url`` with exactly ``headers``
    (they are part of the signature), before ``expires_at``."""

    url: str
    method: Literal["PUT", "GET"]
    expires_at: datetime
    headers: dict[str, str] = field(default_factory=dict)

    def wire(self) -> dict[str, object]:
        return {
            "url": self.url,
            "method": self.method,
            "headers": self.headers,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    content_type: str | None


class FileStore(Protocol):
    async def presign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires_secs: int
    ) -> PresignedRequest:
        """A URL that accepts one object at ``key`` with this ``Content-Type``. ``max_bytes``
        is enforced where the store can (the local store refuses larger bodies; an S3
        presigned PUT cannot): callers check the stored size with :meth:`head`."""
        ...

    async def presign_get(
        self, key: str, *, expires_secs: int, download_name: str
    ) -> PresignedRequest:
        """A URL that downloads ``key`` as an attachment named ``download_name`` (ASCII)."""
        ...

    async def head(self, key: str) -> StoredObject | None:
        """The stored object's size and content type, or None if nothing is stored there."""
        ...


def safe_filename(name: str) -> str:
    """``name`` as a safe last segment of a key and a download name: its last path part,
    ASCII letters, digits, ``.``, ``-`` and ``_`` only (others become ``_``), no leading dot,
    at most 100 characters keeping the extension; ``file`` for a stem with nothing left."""
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    clean_ext = _ascii_part(ext)[:10]
    suffix = f".{clean_ext}" if clean_ext else ""
    clean_stem = _ascii_part(stem)[: SAFE_NAME_MAX_CHARS - len(suffix)] or "file"
    return clean_stem + suffix


def _ascii_part(text: str) -> str:
    ascii_only = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_only).strip("._-")
