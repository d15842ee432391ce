"""JSON over HTTPS to a messaging provider, with transport errors translated.

One :class:`ProviderHttp` per adapter; its aiohttp session is opened on the first request
(inside the running loop, never at import or construction) and closed by :meth:`aclose`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from protocols.channels.interface import (
    ChannelError,
    PermanentChannelError,
    RetryableChannelError,
)


@dataclass(frozen=True)
class ProviderAnswer:
    status: int
    body: Any  # the parsed JSON, or None when the body is not JSON


class ProviderHttp:
    def __init__(
        self, *, provider: str, base_url: str, headers: dict[str, str], timeout_secs: float
    ) -> None:
        self.provider = provider
        self._base_url = base_url.rstrip("/")
        self._headers = headers
        self._timeout = aiohttp.ClientTimeout(total=timeout_secs)
        self._session: aiohttp.ClientSession | None = None

    async def post_json(self, path: str, body: dict[str, Any]) -> ProviderAnswer:
        """POST ``body`` to ``base_url + path``. Any answer is returned (the caller maps
        statuses); no answer at all (unreachable, reset, timeout) is
        :class:`RetryableChannelError`."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        try:
            async with self._session.post(f"{self._base_url}{path}", json=body) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableChannelError(
                f"{self.provider} unreachable or timed out: {exc!r}",
                code="provider_unavailable",
            ) from exc
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        return ProviderAnswer(status=status, body=parsed)

    def status_error(
        self, answer: ProviderAnswer, *, retryable: bool | None = None
    ) -> ChannelError:
        """The error for a refused request: 429 and 5xx are retryable, other statuses
        permanent, unless ``retryable`` says otherwise (a provider's own throttling codes)."""
        if retryable is None:
            retryable = answer.status == 429 or answer.status >= 500
        details = {"status": answer.status, "provider": self.provider, "answer": answer.body}
        if retryable:
            return RetryableChannelError(
                f"{self.provider} answered {answer.status}; send again later",
                code="provider_unavailable",
                details=details,
            )
        return PermanentChannelError(
            f"{self.provider} refused the message ({answer.status})",
            code="provider_rejected",
            details=details,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
