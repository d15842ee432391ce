"""``LocalFileStore``: a directory, with upload and download URLs signed by the hub.

The embedded default (no ``SEVA_S3_BUCKET``): ``make run`` needs a store that works without
the Internet or another process. URLs point at the hub's own ``/api/v1/files/{key}`` routes
(``hub/rest_files.py``) and carry an HMAC-SHA256 over the method, key, expiry and (PUT) the
content type and size limit, like an S3 presigned URL: whoever holds one may do that one
thing until it expires, without a token. Objects live under ``root/objects/<key>``, their
content type under ``root/meta/<key>.json``; an upload is written to a temporary file and
renamed into place, so a reader never sees half an object.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from protocols.errors import Forbidden, Invalid, NotFound, Unavailable
from protocols.files import PresignedRequest, StoredObject

ROUTE_PREFIX = "/api/v1/files/"


class LocalFileStore:
    def __init__(self, root: Path, *, signing_key: bytes, public_url: str) -> None:
        """``public_url``: how clients reach this hub (``http://127.0.0.1:8080``)."""
        self._root = root
        self._key = signing_key
        self._public_url = public_url.rstrip("/")

    async def presign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires_secs: int
    ) -> PresignedRequest:
        expires = int(time.time()) + expires_secs
        query = {
            "expires": str(expires),
            "content_type": content_type,
            "max_bytes": str(max_bytes),
        }
        query["signature"] = self._sign("PUT", key, query)
        return PresignedRequest(
            url=self._url(key, query),
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    async def presign_get(
        self, key: str, *, expires_secs: int, download_name: str
    ) -> PresignedRequest:
        expires = int(time.time()) + expires_secs
        query = {"expires": str(expires), "download_name": download_name}
        query["signature"] = self._sign("GET", key, query)
        return PresignedRequest(
            url=self._url(key, query),
            method="GET",
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    async def head(self, key: str) -> StoredObject | None:
        return await asyncio.to_thread(self._head_sync, key)

    def check_signature(self, method: str, key: str, query: dict[str, str]) -> None:
        """Raises Forbidden unless ``query`` is a URL this store signed for ``method`` on
        ``key`` and it has not expired (S3 answers such requests 403 as well)."""
        given = query.get("signature", "")
        fields = {k: v for k, v in query.items() if k != "signature"}
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a
        # refusal), and the query string is the caller's.
        expected = self._sign(method, key, fields)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden("the URL's signature does not match", {"reason": "signature_invalid"})
        if int(fields.get("expires", "0")) < time.time():
            raise Forbidden("the URL has expired", {"reason": "url_expired"})

    async def write(
        self, key: str, *, content_type: str, max_bytes: int, chunks: AsyncIterator[bytes]
    ) -> int:
        """Store ``chunks`` at ``key`` (replacing what was there); returns the size. Raises
        ``Invalid`` (details.reason ``too_large``) past ``max_bytes``, leaving nothing."""
        target = self._object_path(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        fd, tmp_name = await asyncio.to_thread(
            tempfile.mkstemp, dir=target.parent, prefix=".upload-"
        )
        tmp = Path(tmp_name)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise Invalid(
                            "the body is larger than the upload allows",
                            {"reason": "too_large", "max_bytes": max_bytes},
                        )
                    await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(self._commit_sync, key, tmp, content_type)
        except OSError as exc:
            raise Unavailable(
                "the file store could not write", {"reason": "file_store_error"}
            ) from exc
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        return size

    async def open_for_read(self, key: str) -> tuple[Path, str]:
        """The object's path and content type. Raises NotFound if nothing is stored."""
        found = await self.head(key)
        if found is None:
            raise NotFound("no such file")
        return self._object_path(key), found.content_type or "application/octet-stream"

    def _head_sync(self, key: str) -> StoredObject | None:
        try:
            size = self._object_path(key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Unavailable(
                "the file store could not read", {"reason": "file_store_error"}
            ) from exc
        try:
            meta = json.loads(self._meta_path(key).read_text())
        except (OSError, ValueError):
            meta = {}
        return StoredObject(key=key, size_bytes=size, content_type=meta.get("content_type"))

    def _commit_sync(self, key: str, tmp: Path, content_type: str) -> None:
        meta = self._meta_path(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta_tmp = meta.with_name(meta.name + ".tmp")
        meta_tmp.write_text(json.dumps({"content_type": content_type}))
        os.replace(meta_tmp, meta)
        os.replace(tmp, self._object_path(key))

    def _object_path(self, key: str) -> Path:
        return self._inside(self._root / "objects", key)

    def _meta_path(self, key: str) -> Path:
        return self._inside(self._root / "meta", key + ".json")

    @staticmethod
    def _inside(base: Path, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or "\\" in key:
            raise NotFound("no such file")
        return base.joinpath(*parts)

    def _sign(self, method: str, key: str, fields: dict[str, str]) -> str:
        message = "\n".join([method, key, *(f"{k}={fields[k]}" for k in sorted(fields))])
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def _url(self, key: str, query: dict[str, str]) -> str:
        return f"{self._public_url}{ROUTE_PREFIX}{quote(key)}?{urlencode(query)}"
