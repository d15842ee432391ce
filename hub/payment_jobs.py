"""Background work for payments, owned by the app: applying stored webhooks and reconciling.

Every hub process runs both. Webhook rows are claimed with ``FOR UPDATE SKIP LOCKED`` so each
is applied by one process at a time; applying is idempotent anyway. Reconciliation runs in one
process at a time (advisory lock inside :meth:`PaymentService.reconcile_once`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from hub.background import cancel_and_wait
from hub.payments import PaymentService
from protocols.errors import SevaError
from storage import webhook_inbox as inbox

log = logging.getLogger(__name__)

PAYMENT_EVENTS = {
    "razorpay": ("payment.", "order."),
    "cashfree": ("PAYMENT_",),
}


class PaymentJobs:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        payments: PaymentService,
        reconcile_every_secs: float,
        reconcile_after_secs: float,
    ) -> None:
        self._db = db
        self._payments = payments
        self._reconcile_every = reconcile_every_secs
        self._reconcile_after = reconcile_after_secs
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._inbox_forever(), name="webhook-inbox"),
            loop.create_task(self._reconcile_forever(), name="payments-reconcile"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)

    async def drain_inbox(self, *, limit: int = 50) -> int:
        """Apply due stored webhooks, one transaction each; returns how many were handled. One
        that cannot be applied yet (a gateway or shard down) is retried later with backoff."""
        handled = 0
        while handled < limit:
            async with self._db.acquire() as conn, conn.transaction():
                event = await inbox.claim_one(conn)
                if event is None:
                    return handled
                prefixes = PAYMENT_EVENTS.get(event.gateway, ())
                if event.gateway_order_id is None or not event.event_type.startswith(prefixes):
                    await inbox.mark_processed(conn, inbox_id=event.inbox_id, outcome="ignored")
                else:
                    try:
                        outcome = await self._payments.apply_event(
                            event.tenant_id, event.gateway, event.gateway_order_id
                        )
                    except SevaError as exc:
                        log.warning("webhook %s not applied yet: %s", event.event_id, exc)
                        await inbox.retry_later(conn, inbox_id=event.inbox_id, error=exc.code)
                    else:
                        await inbox.mark_processed(conn, inbox_id=event.inbox_id, outcome=outcome)
            handled += 1
        return handled

    async def _inbox_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            self._wake.clear()
            try:
                while await self.drain_inbox():
                    pass
            except Exception:
                # Keep applying webhooks whatever one of them did; it is retried later.
                log.exception("webhook inbox round failed")

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_every)
            try:
                await self._payments.reconcile_once(older_than_secs=self._reconcile_after)
            except Exception:
                log.exception("reconciliation round failed")
