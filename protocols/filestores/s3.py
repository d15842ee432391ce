"""``S3FileStore``: any S3 API (AWS, MinIO, moto) through aiobotocore.

Presigning is local computation (SigV4, no request); :meth:`S3FileStore.head` is the only
call that goes to the store. botocore's errors are translated here, at the edge: a missing
object is ``None``; a store that is unreachable, times out, refuses our credentials or has no
such bucket is ``Unavailable`` (``details.reason``), raised ``from`` the botocore error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from protocols.errors import Unavailable
from protocols.files import PresignedRequest, StoredObject

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3FileStore:
    def __init__(self, client: Any, *, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        *,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: SecretStr | None = None,
        secret_access_key: SecretStr | None = None,
    ) -> AsyncIterator[S3FileStore]:
        """Open an S3 client for the store's lifetime. Without credentials botocore's own
        chain applies (environment, instance role). With ``endpoint_url`` (MinIO, moto) keys
        are path-style, so the endpoint needs no bucket subdomains."""
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            connect_timeout=5,
            read_timeout=15,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        session = get_session()
        async with session.create_client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id.get_secret_value() if access_key_id else None,
            aws_secret_access_key=(
                secret_access_key.get_secret_value() if secret_access_key else None
            ),
            config=config,
        ) as client:
            yield cls(client, bucket=bucket)

    async def presign_put(
        self, key: str, *, content_type: str, max_bytes: int, expires_secs: int
    ) -> PresignedRequest:
        # Content-Type is signed: the store refuses a PUT that sends another one.
        url = await self._presign(
            "put_object",
            {"Bucket": self._bucket, "Key": key, "ContentType": content_type},
            expires_secs,
        )
        return PresignedRequest(
            url=url,
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=_expiry(expires_secs),
        )

    async def presign_get(
        self, key: str, *, expires_secs: int, download_name: str
    ) -> PresignedRequest:
        url = await self._presign(
            "get_object",
            {
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{download_name}"',
            },
            expires_secs,
        )
        return PresignedRequest(url=url, method="GET", expires_at=_expiry(expires_secs))

    async def head(self, key: str) -> StoredObject | None:
        try:
            answer = await self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return None
            raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise _translate(exc) from exc
        return StoredObject(
            key=key,
            size_bytes=int(answer["ContentLength"]),
            content_type=answer.get("ContentType"),
        )

    async def _presign(self, operation: str, params: dict[str, Any], expires_secs: int) -> str:
        try:
            url: str = await self._client.generate_presigned_url(
                operation, Params=params, ExpiresIn=expires_secs
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc
        return url


def _expiry(expires_secs: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=expires_secs)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: BotoCoreError | ClientError) -> Unavailable:
    """A botocore error as the project's error (the caller raises it ``from exc``). Never
    carries the SDK's message to a client: it can name the bucket and the key id."""
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        if code == "NoSuchBucket":
            reason = "file_store_bucket_missing"
        elif code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            reason = "file_store_denied"
        else:
            reason = "file_store_error"
        return Unavailable("the file store refused the request", {"reason": reason})
    return Unavailable("the file store did not answer", {"reason": "file_store_unreachable"})
