"""Pieces both gateway emulators share: owned background tasks, ids, clocks, JSON bodies, the
control API's error type, and :func:`run_emulator` to serve an emulator on a local port."""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

IST = timezone(timedelta(hours=5, minutes=30), "IST")
_ALPHANUMERIC = string.ascii_letters + string.digits


def random_id(prefix: str = "", length: int = 14) -> str:
    """``prefix`` + ``length`` random alphanumerics, the shape of Razorpay's ``order_XXXX`` ids."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def unix_now() -> int:
    return int(time.time())


def ist_now() -> datetime:
    return datetime.now(IST).replace(microsecond=0)


def ist_iso(moment: datetime) -> str:
    """``2026-11-25T18:02:46+05:30``: the timestamp format Cashfree answers with."""
    return moment.astimezone(IST).isoformat(timespec="seconds")


class ControlError(Exception):
    """A refused ``/_emulator`` control request; answered as ``{"error": {code, message}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return web.json_response(
            {"error": {"code": self.code, "message": self.message}}, status=self.status
        )


class GatewayRefusal(Exception):
    """A refused gateway API request, answered with ``body`` (already in the gateway's error
    shape) and ``status``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


async def read_json_object(request: web.Request, *, decimals: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``).

    With ``decimals`` JSON numbers with a fraction become :class:`~decimal.Decimal`, so that
    rupee amounts convert to paise exactly. Raises ``ValueError`` for anything but an object.
    """
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal if decimals else float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


async def read_control(request: web.Request, model: type[M]) -> M:
    """A control request's body validated against ``model``; refusals are ``400 invalid``."""
    try:
        return model.model_validate(await read_json_object(request))
    except ValueError as exc:  # ValidationError is a ValueError
        message = (
            "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        raise ControlError(400, "invalid", message) from exc


class OwnedTasks:
    """Background tasks owned by one emulator app: started with :meth:`spawn`, cancelled and
    awaited by :meth:`close` from the app's ``cleanup_ctx``, never left running."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


@asynccontextmanager
async def run_emulator(
    app: web.Application,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_timeout_secs: float = 2.0,
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0 picks a free port) and yield its base URL
    (``http://127.0.0.1:PORT``, no trailing slash). On exit the server stops; requests held by a
    ``timeout``/``slow`` fault are cut short, webhook deliveries in flight are cancelled."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_secs)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{shown_host}:{bound_port}"
    finally:
        await runner.cleanup()
