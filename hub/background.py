"""Background tasks owned by a service: started in ``start()``, cancelled in ``stop()``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""Errors a periodic step survives: the database or network going away for a moment."""


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and return once it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_every(interval_secs: float, step: Callable[[], Awaitable[Any]], what: str) -> None:
    """Run ``step`` every ``interval_secs`` until cancelled; a transient failure is logged and
    the next round tries again."""
    while True:
        await asyncio.sleep(interval_secs)
        try:
            await step()
        except TRANSIENT as exc:
            log.warning("%s failed, retrying: %r", what, exc)
