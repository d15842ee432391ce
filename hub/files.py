"""The hub's file store, opened once at startup: S3 when ``SEVA_S3_BUCKET`` is set, else the
local directory store whose signed URLs the hub serves itself (``hub/rest_files.py``)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from pydantic import SecretStr

from hub import keys
from hub.settings import Settings
from protocols.files import FileStore
from protocols.filestores.local import LocalFileStore
from protocols.filestores.s3 import S3FileStore
from protocols.secretbox import decode_key

FILES_DIR = "files"


def files_signing_key(secret_key: SecretStr | None) -> bytes:
    """HMAC key of the local store's URLs: derived from ``SEVA_SECRET_KEY`` (or the embedded
    default's key file) so links survive a restart and verify on every hub; without one,
    random per process."""
    if secret_key is None:
        return os.urandom(32)
    root = decode_key(secret_key.get_secret_value())
    return hmac.new(root, b"seva-files-url-signing-v1", hashlib.sha256).digest()


def local_public_url(settings: Settings) -> str:
    if settings.files_public_url:
        return settings.files_public_url
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


@asynccontextmanager
async def open_file_store(settings: Settings, *, signing_key: bytes) -> AsyncIterator[FileStore]:
    if settings.s3_bucket is not None:
        async with S3FileStore.open(
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        ) as store:
            yield store
        return
    root = settings.files_dir or (settings.data_dir / FILES_DIR)
    yield LocalFileStore(
        root.resolve(), signing_key=signing_key, public_url=local_public_url(settings)
    )


def file_store_context(
    settings: Settings, *, signing_key: bytes
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that holds the store in ``keys.FILE_STORE`` (and, for the local
    store, ``keys.LOCAL_FILES``, which its routes serve) for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_file_store(settings, signing_key=signing_key) as store:
            app[keys.FILE_STORE] = store
            if isinstance(store, LocalFileStore):
                app[keys.LOCAL_FILES] = store
            yield

    return ctx
