"""Signed webhook delivery with the misbehaviours real gateways show: duplicates, reordering,
delays, drops and retries.

Each state change (a payment, a failure, a refund) produces a *batch* of events, signed by the
gateway module's ``sign`` callable at every attempt (Cashfree's signature covers a fresh
timestamp). The :class:`WebhookPolicy` in force when the batch is submitted decides its fate:

``duplicate: n``
    every event is delivered ``n`` times (same body, same event id).
``reorder: true``
    the events of one batch are delivered in reverse order (``order.paid`` before
    ``payment.captured``).
``drop: true``
    nothing is sent; the log records the events as ``dropped``.
``delay_secs: x``
    the batch waits ``x`` seconds before its first attempt.
``hold: true``
    events are parked (logged as ``held``) until ``POST /_emulator/webhooks/release``, which
    sends everything parked, oldest first (``fifo``) or newest first (``lifo``) — a
    deterministic way to deliver a later state change before an earlier one.

A delivery that does not get a 2xx answer (or no answer within ``timeout_secs``) is retried, up
to ``max_attempts`` attempts in all, waiting ``retry_backoff_secs * 2 ** (attempt - 1)`` in
between, as the real gateways retry (they do so for hours; the emulator for seconds). Within a
batch, deliveries are sequential; batches are independent of each other.

Every attempt is recorded in an in-memory log (most recent 10,000), served by
``GET /_emulator/webhooks``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from protocols.gateways.emulators.common import OwnedTasks

Signer = Callable[[bytes], Mapping[str, str]]
"""Headers (signature, timestamp, event id...) for one delivery attempt of a raw body."""

Outcome = Literal["delivered", "rejected", "unreachable", "dropped", "held", "no_url"]
ReleaseOrder = Literal["fifo", "lifo"]

LOG_LIMIT = 10_000


class WebhookPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    duplicate: int = Field(default=1, ge=1, le=100)
    reorder: bool = False
    drop: bool = False
    delay_secs: float = Field(default=0.0, ge=0, le=3600)
    hold: bool = False
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_backoff_secs: float = Field(default=0.2, ge=0, le=60)
    timeout_secs: float = Field(default=5.0, gt=0, le=60)


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event: str
    merchant: str
    url: str | None
    body: bytes
    sign: Signer


@dataclass(frozen=True)
class DeliveryRecord:
    seq: int
    event_id: str
    event: str
    merchant: str
    url: str | None
    copy: int
    attempt: int
    outcome: Outcome
    status: int | None
    error: str | None
    at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Copy:
    event: WebhookEvent
    number: int


class WebhookDispatcher:
    """Sends webhook batches in background tasks owned by the emulator app.

    :meth:`start` and :meth:`close` are called by the app's ``cleanup_ctx``; :meth:`submit` only
    while it runs.
    """

    def __init__(self, tasks: OwnedTasks, policy: WebhookPolicy | None = None) -> None:
        self.policy = policy or WebhookPolicy()
        self._tasks = tasks
        self._session: aiohttp.ClientSession | None = None
        self._held: list[_Copy] = []
        self._log: deque[DeliveryRecord] = deque(maxlen=LOG_LIMIT)
        self._seq = itertools.count(1)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def submit(self, events: Sequence[WebhookEvent]) -> None:
        policy = self.policy
        ordered = list(reversed(events)) if policy.reorder else list(events)
        copies = [
            _Copy(event, number) for number in range(1, policy.duplicate + 1) for event in ordered
        ]
        sendable = []
        for copy in copies:
            if copy.event.url is None:
                self._record(copy, 0, "no_url")
            elif policy.drop:
                self._record(copy, 0, "dropped")
            elif policy.hold:
                self._record(copy, 0, "held")
                self._held.append(copy)
            else:
                sendable.append(copy)
        if sendable:
            self._tasks.spawn(
                self._deliver_batch(sendable, policy.delay_secs), name="emulator-webhooks"
            )

    def release(self, order: ReleaseOrder = "fifo") -> int:
        """Send every held delivery now, in ``order``; returns how many."""
        held, self._held = self._held, []
        if order == "lifo":
            held.reverse()
        if held:
            self._tasks.spawn(self._deliver_batch(held, 0.0), name="emulator-webhooks-release")
        return len(held)

    def log(self, *, event: str | None = None, merchant: str | None = None) -> list[DeliveryRecord]:
        return [
            record
            for record in self._log
            if (event is None or record.event == event)
            and (merchant is None or record.merchant == merchant)
        ]

    def clear_log(self) -> None:
        self._log.clear()

    async def _deliver_batch(self, copies: list[_Copy], delay_secs: float) -> None:
        if delay_secs > 0:
            await asyncio.sleep(delay_secs)
        for copy in copies:
            await self._deliver(copy)

    async def _deliver(self, copy: _Copy) -> None:
        policy = self.policy
        event = copy.event
        assert event.url is not None
        for attempt in range(1, policy.max_attempts + 1):
            if self._session is None:  # the app is shutting down
                return
            headers = {"Content-Type": "application/json", **event.sign(event.body)}
            try:
                async with self._session.post(
                    event.url,
                    data=event.body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=policy.timeout_secs),
                ) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._record(copy, attempt, "unreachable", error=f"{type(exc).__name__}: {exc}")
            else:
                ok = 200 <= status < 300
                self._record(copy, attempt, "delivered" if ok else "rejected", status=status)
                if ok:
                    return
            if attempt < policy.max_attempts:
                await asyncio.sleep(policy.retry_backoff_secs * 2 ** (attempt - 1))

    def _record(
        self,
        copy: _Copy,
        attempt: int,
        outcome: Outcome,
        *,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        self._log.append(
            DeliveryRecord(
                seq=next(self._seq),
                event_id=copy.event.event_id,
                event=copy.event.event,
                merchant=copy.event.merchant,
                url=copy.event.url,
                copy=copy.number,
                attempt=attempt,
                outcome=outcome,
                status=status,
                error=error,
                at=time.time(),
            )
        )
