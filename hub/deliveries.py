"""Sending planned deliveries over email, SMS and WhatsApp, paid for with messaging credits.

Every hub runs a worker; deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` under a lease
(``storage.deliveries``), so several hubs share the work and a delivery whose sender died is
claimed again once its lease ends. For each claimed delivery:

1. credits: one unit of the tenant's ``<channel>`` credits is reserved through the wallet
   actors as the pending transfer ``delivery:<id>:<generation>`` (idempotent, so a re-claim
   does not reserve twice). Not enough → ``skipped_insufficient_credits`` and one
   ``credits_low`` notification per tenant, channel and day to the tenant's admins;
2. send, with the delivery's stable idempotency key;
3. sent → the reservation is posted, then the delivery marked ``sent``; a retryable error →
   ``failed`` and tried again after exponential backoff with jitter, ``dead`` (reservation
   voided) after ``max_attempts``; a permanent error → ``dead``, reservation voided.

At least once: a sender killed after the provider accepted a message but before recording it
sends it again after the lease (providers that take an idempotency key drop the copy).
``credits_low`` messages themselves are not charged (they tell the tenant it has none).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from hub.background import TRANSIENT, cancel_and_wait
from hub.wallets import WalletService
from protocols.channels.interface import (
    Channel,
    ChannelName,
    OutboundMessage,
    PermanentChannelError,
    RetryableChannelError,
    check_template,
)
from protocols.errors import Conflict, InsufficientFunds
from storage import deliveries, notifications
from storage.deliveries import Delivery

log = logging.getLogger(__name__)

FREE_KINDS = frozenset({"credits_low"})


class DeliveryWorker:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        wallets: WalletService,
        channels: dict[ChannelName, Channel],
        max_attempts: int,
        backoff_base_secs: float,
        backoff_max_secs: float,
        lease_secs: float,
        poll_secs: float,
        batch: int = 50,
        observe_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        """``observe_outcome(channel, status)`` (optional) is told every attempt's recorded
        outcome: ``sent``, ``failed`` (retried later), ``dead``,
        ``skipped_insufficient_credits``."""
        self._db = db
        self._observe_outcome = observe_outcome
        self._wallets = wallets
        self._channels: dict[str, Channel] = {str(k): v for k, v in channels.items()}
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base_secs
        self._backoff_max = backoff_max_secs
        self._lease = lease_secs
        self._poll = poll_secs
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self._channels)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="deliveries")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        for channel in self._channels.values():
            await channel.aclose()

    async def _run(self) -> None:
        while True:
            try:
                while await self.run_once() >= self._batch:
                    pass
            except TRANSIENT as exc:
                log.warning("delivery round failed, retrying: %r", exc)
            await asyncio.sleep(self._poll)

    async def run_once(self) -> int:
        """Claim what is due and send it; returns how many were claimed."""
        async with self._db.acquire() as conn:
            claimed = await deliveries.claim_due(conn, limit=self._batch, lease_secs=self._lease)
        await asyncio.gather(*(self._deliver(d) for d in claimed))
        return len(claimed)

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self._deliver_unsafe(delivery)
        except TRANSIENT as exc:
            # The lease runs out and the delivery is claimed again; nothing is lost.
            log.warning("delivery %s interrupted: %r", delivery.id, exc)

    async def _deliver_unsafe(self, delivery: Delivery) -> None:
        channel = self._channels.get(delivery.channel)
        if channel is None:
            await self._finish(delivery, "dead", error="channel_not_configured")
            return
        try:
            check_template(channel.name, delivery.kind, delivery.language)
        except PermanentChannelError as exc:
            await self._finish(delivery, "dead", error=str(exc))
            return
        charged = delivery.tenant_id is not None and delivery.kind not in FREE_KINDS
        if charged and not delivery.credits_reserved:
            assert delivery.tenant_id is not None
            try:
                await self._wallets.reserve_credits(
                    tenant_id=delivery.tenant_id,
                    channel=delivery.channel.upper(),  # the ledger's currency: EMAIL, SMS, ...
                    units=1,
                    pending_id=delivery.credit_pending_id,
                )
            except InsufficientFunds:
                await self._out_of_credits(delivery)
                return
            async with self._db.acquire() as conn:
                await deliveries.mark_reserved(conn, delivery=delivery)
        message = OutboundMessage(
            delivery_id=delivery.id,
            idempotency_key=f"seva-{delivery.id}-{delivery.generation}",
            kind=delivery.kind,
            language=delivery.language,
            recipient=delivery.recipient,
            data=delivery.data,
        )
        try:
            result = await channel.send(message)
        except RetryableChannelError as exc:
            if delivery.attempts >= self._max_attempts:
                await self._settle(delivery, charged, spent=False)
                await self._finish(delivery, "dead", error=str(exc))
            else:
                await self._finish(
                    delivery, "failed", error=str(exc), retry_at=self._backoff(delivery)
                )
            return
        except PermanentChannelError as exc:
            await self._settle(delivery, charged, spent=False)
            await self._finish(delivery, "dead", error=str(exc))
            return
        await self._settle(delivery, charged, spent=True)
        await self._finish(delivery, "sent", provider_message_id=result.provider_message_id)

    def _backoff(self, delivery: Delivery) -> datetime:
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (delivery.attempts - 1))
        # Full jitter: retries of many deliveries that failed together spread out.
        delay = random.uniform(ceiling / 2, ceiling)
        return datetime.now(UTC) + timedelta(seconds=delay)

    async def _settle(self, delivery: Delivery, charged: bool, *, spent: bool) -> None:
        if not charged:
            return
        try:
            await self._wallets.settle_credits(delivery.credit_pending_id, spent=spent)
        except Conflict as exc:
            # Already settled (a sender before us got this far), or expired: nothing to do.
            log.info("credits of delivery %s already settled: %s", delivery.id, exc)

    async def _finish(
        self,
        delivery: Delivery,
        status: str,
        *,
        error: str | None = None,
        provider_message_id: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        async with self._db.acquire() as conn:
            done = await deliveries.finish(
                conn,
                delivery=delivery,
                status=status,
                error=error,
                provider_message_id=provider_message_id,
                retry_at=retry_at,
            )
            if not done:
                log.info("delivery %s was claimed again meanwhile; outcome dropped", delivery.id)
                return
        # The recipient helps support; the log masking keeps only its last digits/letter.
        log.info(
            "delivery %s via %s to %s: %s",
            delivery.id,
            delivery.channel,
            delivery.recipient,
            status,
            extra={"tenant_id": delivery.tenant_id, "attempt": delivery.attempts},
        )
        if self._observe_outcome is not None:
            self._observe_outcome(delivery.channel, status)

    async def _out_of_credits(self, delivery: Delivery) -> None:
        assert delivery.tenant_id is not None
        day = datetime.now(UTC).date().isoformat()
        async with self._db.acquire() as conn, conn.transaction():
            done = await deliveries.finish(
                conn,
                delivery=delivery,
                status="skipped_insufficient_credits",
                error="insufficient_credits",
            )
            if done and self._observe_outcome is not None:
                self._observe_outcome(delivery.channel, "skipped_insufficient_credits")
            if done:
                await notifications.enqueue_for_admins(
                    conn,
                    tenant_id=delivery.tenant_id,
                    kind="credits_low",
                    data={"channel": delivery.channel, "skipped_delivery_id": str(delivery.id)},
                    dedupe_key=f"credits_low:{delivery.tenant_id}:{delivery.channel}:{day}",
                )


async def requeue(
    db: asyncpg.Pool, *, ids: list[UUID] | None, statuses: tuple[str, ...], tenant_id: UUID | None
) -> list[UUID]:
    """Start the given deliveries (or all in ``statuses``) over; see ``storage.deliveries``."""
    async with db.acquire() as conn:
        return await deliveries.requeue(conn, ids=ids, statuses=statuses, tenant_id=tenant_id)
