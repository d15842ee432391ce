"""A chaos client: one user's Socket.IO connection and REST calls, spread over several hubs.

It behaves like a real app under faults: a transport error, a ``5xx``/``429`` answer or an
``unavailable``/``gateway_unavailable``/``internal`` error is *retryable* (the caller sends
the same request again, with the same idempotency key); the connection then moves to the next
hub URL, so a client whose hub died fails over to another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aiohttp
import socketio

RETRYABLE_CODES = frozenset({"unavailable", "gateway_unavailable", "internal", "rate_limited"})
CALL_TIMEOUT_SECS = 10.0


async def close_refused(sio: socketio.AsyncClient) -> None:
    """Close the HTTP session python-engineio opened for a connection that was refused or
    failed: it leaves it open (and asyncio warns of an unclosed session)."""
    http = getattr(sio.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()


class Retryable(Exception):
    """The request may or may not have taken effect: send it again with the same key."""


class Refused(Exception):
    """The hub answered with a final error (``code``): not acknowledged, not retried."""

    def __init__(self, code: str, body: Any) -> None:
        super().__init__(f"{code}: {body}")
        self.code = code
        self.body = body


class ChaosClient:
    """One user. ``urls`` are hub base URLs; the client starts at ``urls[start % len]``."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        start: int,
        email: str,
        password: str,
        http: aiohttp.ClientSession,
    ) -> None:
        self._urls = list(urls)
        self._index = start % len(self._urls)
        self.email = email
        self._password = password
        self._http = http
        self._sio: socketio.AsyncClient | None = None
        self.token: str | None = None
        self.failovers = 0

    @property
    def url(self) -> str:
        return self._urls[self._index]

    def fail_over(self) -> None:
        self._index = (self._index + 1) % len(self._urls)
        self.failovers += 1

    async def close(self) -> None:
        await self._drop_socket()

    async def _drop_socket(self) -> None:
        sio, self._sio = self._sio, None
        if sio is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), timeout=5)

    # -- REST ------------------------------------------------------------------------------------

    async def rest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        """The JSON body of a 2xx answer; :class:`Refused` for a final 4xx error;
        :class:`Retryable` for anything else (the client then fails over)."""
        all_headers = dict(headers or {})
        if auth:
            if self.token is None:
                await self.login()
            all_headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with self._http.request(
                method,
                f"{self.url}{path}",
                json=json,
                headers=all_headers,
                timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECS),
            ) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.fail_over()
            raise Retryable(f"{method} {path}: {exc!r}") from exc
        if status < 300:
            return body
        code = (body or {}).get("error", {}).get("code", "") if isinstance(body, dict) else ""
        if status >= 500 or status == 429 or code in RETRYABLE_CODES:
            if status in (502, 503, 504) or status >= 500:
                self.fail_over()
            raise Retryable(f"{method} {path}: {status} {body}")
        if status == 401 and auth:
            self.token = None  # e.g. expired: log in again and retry
            raise Retryable(f"{method} {path}: 401")
        raise Refused(code or str(status), body)

    async def login(self) -> None:
        body = await self.rest(
            "POST",
            "/api/v1/auth/login",
            json={"email": self.email, "password": self._password},
            auth=False,
        )
        self.token = body["access_token"]

    # -- Socket.IO -------------------------------------------------------------------------------

    async def _socket(self) -> socketio.AsyncClient:
        if self._sio is not None and self._sio.connected:
            return self._sio
        await self._drop_socket()
        if self.token is None:
            await self.login()
        sio = socketio.AsyncClient(reconnection=False)
        try:
            await sio.connect(
                self.url,
                auth={"token": self.token},
                transports=["websocket"],
                wait_timeout=CALL_TIMEOUT_SECS,
            )
        except (socketio.exceptions.ConnectionError, OSError, TimeoutError) as exc:
            await close_refused(sio)
            self.fail_over()
            if "unauthorized" in str(exc):
                self.token = None
            raise Retryable(f"connect: {exc!r}") from exc
        self._sio = sio
        return sio

    async def call(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """The ack's ``data`` of an ``ok`` answer; :class:`Refused` / :class:`Retryable`."""
        sio = await self._socket()
        try:
            ack = await sio.call(event, data, timeout=CALL_TIMEOUT_SECS)
        except (socketio.exceptions.SocketIOError, OSError, TimeoutError) as exc:
            await self._drop_socket()
            self.fail_over()
            raise Retryable(f"{event}: {exc!r}") from exc
        if ack.get("ok"):
            return dict(ack["data"])
        code = ack.get("error", {}).get("code", "")
        if code in RETRYABLE_CODES:
            raise Retryable(f"{event}: {ack}")
        if code == "unauthorized":
            self.token = None
            await self._drop_socket()
            raise Retryable(f"{event}: {ack}")
        raise Refused(code, ack)
