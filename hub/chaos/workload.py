"""The chaos workload: real clients holding, releasing and paying for slots, topping up and
moving wallet money, and being notified, while faults are injected; afterwards,
:meth:`Workload.lost` names every acknowledged operation missing from PostgreSQL.

Each user runs one loop of seeded choices (its own ``random.Random`` drawn from the workload's):

- ``hold:create`` (Socket.IO, idempotency key) then one of ``hold:release``, ``hold:pay`` (wallet)
  or a gateway payment: ``POST /api/v1/payments/intents`` (``Idempotency-Key``), the customer
  paying at the gateway emulator (``/_emulator/orders/{id}/pay``), and for Razorpay half the
  time the Checkout handler's ``POST /api/v1/payments/{id}/verify``;
- a wallet top-up through a gateway (``purpose: "wallet_topup"``);
- a wallet transfer: the tenant admin reserves money in the user's wallet (``POST
  /api/v1/wallets/{id}/holds``, code ``chaos_transfer``) and posts it.

A retryable answer (transport error, 5xx, ``unavailable``...) is retried with the same key, on
the next hub URL, until it is answered (for at most ``finish_secs`` after ``stop``); a final
refusal (``sold_out``, ``conflict``, ``insufficient_funds``) is counted, not acknowledged.
Bookings produce ``booking_confirmed`` notifications: every confirmed hold must have exactly one.
With ``webhook_mischief`` the emulators' webhook policy changes every ~1.5 s to duplicated,
reordered or dropped deliveries (the hub's reconcile job must settle the dropped ones: run the
hubs with a short ``SEVA_RECONCILE_AFTER_SECS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from uuid import UUID

import aiohttp
import asyncpg

from hub.chaos.client import ChaosClient, Refused, Retryable
from storage import chaos as chaos_db

PASSWORD = "chaos-password-not-secret"
SLOT_PRICES_PAISE = (50_000, 70_000)  # below ₹600 Razorpay is cheaper, above Cashfree
TOPUP_PAISE = 2_000_000
TRANSFER_PAISE = 1_000
WEIGHTS = {"release": 3, "wallet_pay": 3, "gateway_pay": 3, "topup": 1, "transfer": 1}


class GaveUp(Exception):
    """An operation still unanswered when the run ended: attempted, not acknowledged."""


@dataclass
class Tally:
    attempted: Counter[str] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    gave_up: Counter[str] = field(default_factory=Counter)
    retries: int = 0


@dataclass
class Acks:
    """What the hub (or, for a customer's payment, the gateway) acknowledged."""

    holds: dict[str, str] = field(default_factory=dict)  # hold id -> idempotency key
    released: set[str] = field(default_factory=set)
    wallet_paid: set[str] = field(default_factory=set)
    payments: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (purpose, paise)
    transfers: list[str] = field(default_factory=list)


@dataclass
class _User:
    client: ChaosClient
    rng: random.Random
    wallet_id: str = ""


class Workload:
    """``urls``: hub base URLs (clients spread over them, failing over); ``dsn``: the database
    the hubs use; ``rng``: all the workload's choices; ``size``: how many users (clients).
    ``emulators``: gateway → emulator root URL (without it, no gateway payments or top-ups,
    and wallets cannot be funded: no wallet payments or transfers either)."""

    def __init__(
        self,
        urls: Sequence[str],
        dsn: str,
        rng: random.Random,
        size: int = 8,
        *,
        emulators: Mapping[str, str] | None = None,
        hold_ttl_secs: int = 600,
        webhook_mischief: bool = True,
        finish_secs: float = 30.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one hub URL")
        self.urls = list(urls)
        self.dsn = dsn
        self.rng = rng
        self.size = size
        self.emulators = dict(emulators or {})
        self.hold_ttl_secs = hold_ttl_secs
        self.webhook_mischief = webhook_mischief and bool(self.emulators)
        self.finish_secs = finish_secs
        self.log = log or (lambda _line: None)
        self.tally = Tally()
        self.acks = Acks()
        self.tenant: chaos_db.ChaosTenant | None = None
        self._http: aiohttp.ClientSession | None = None
        self._users: list[_User] = []
        self._admin: ChaosClient | None = None
        self.inbox: set[str] | None = None  # booking ids of booking_confirmed in the inboxes
        self.extra: dict[str, Any] = {}  # a scenario's own findings, merged into details()

    # -- lifecycle -------------------------------------------------------------------------------

    async def setup(self) -> None:
        """The workload's own tenant, users (logged in over REST), gateways (configured over
        REST at the emulators) and funded wallets (gateway top-ups, settled)."""
        from hub.auth import Passwords

        password_hash = await asyncio.to_thread(Passwords().hash, PASSWORD)
        conn = await asyncpg.connect(self.dsn)
        try:
            self.tenant = await chaos_db.create_chaos_tenant(
                conn,
                password_hash=password_hash,
                slots=max(2, self.size // 2),
                capacity=self.size * 20,  # some contention, not a sold-out run
                prices_paise=SLOT_PRICES_PAISE,
                users=self.size,
                hold_ttl_secs=self.hold_ttl_secs,
            )
        finally:
            await conn.close()
        self._http = aiohttp.ClientSession()
        self._admin = self._client(self.tenant.admin_email, 0)
        self._users = [
            _User(self._client(email, i), random.Random(self.rng.random()))
            for i, email in enumerate(self.tenant.user_emails)
        ]
        if self.emulators:
            await self._configure_gateways()
        await asyncio.gather(*(self._fund(user) for user in self._users))

    async def close(self) -> None:
        for user in self._users:
            await user.client.close()
        if self._admin is not None:
            await self._admin.close()
        if self._http is not None:
            await self._http.close()

    def _client(self, email: str, start: int) -> ChaosClient:
        assert self._http is not None
        return ChaosClient(self.urls, start=start, email=email, password=PASSWORD, http=self._http)

    async def _configure_gateways(self) -> None:
        assert self.tenant is not None and self._http is not None
        platform = self._client(self.tenant.platform_admin_email, 0)
        tag = uuid.uuid4().hex[:10]
        tenant_id = self.tenant.tenant_id
        for gateway, root in self.emulators.items():
            webhook_url = f"{self.urls[0]}/api/v1/webhooks/{gateway}/{tenant_id}"
            if gateway == "razorpay":
                key_id, secret, hook = f"rzp_test_chaos{tag}", f"ks-{tag}", f"whs-{tag}"
                merchant = {"key_id": key_id, "key_secret": secret, "webhook_secret": hook}
                base_url = root
            else:
                key_id, secret = f"cf_test_chaos{tag}", f"cs-{tag}"
                hook = secret  # Cashfree signs webhooks with the client secret
                merchant = {"client_id": key_id, "client_secret": secret}
                base_url = f"{root}/pg"
            async with self._http.post(
                f"{root}/_emulator/merchants", json={**merchant, "webhook_url": webhook_url}
            ) as resp:
                resp.raise_for_status()
            path = f"/api/v1/admin/tenants/{tenant_id}/gateways/{gateway}"
            config = {
                "key_id": key_id,
                "key_secret": secret,
                "webhook_secrets": [hook],
                "base_url": base_url,
            }
            await self._until_answered(
                "setup", functools.partial(platform.rest, "PUT", path, json=config)
            )
        await platform.close()

    async def _fund(self, user: _User) -> None:
        wallets = await self._until_answered(
            "setup", lambda: user.client.rest("GET", "/api/v1/wallets/me")
        )
        user.wallet_id = next(w["wallet_id"] for w in wallets["wallets"] if w["currency"] == "INR")
        if not self.emulators:
            return
        await self._topup(user)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            view = await self._until_answered(
                "setup", lambda: user.client.rest("GET", f"/api/v1/wallets/{user.wallet_id}")
            )
            if view["available"] >= TOPUP_PAISE:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the set-up top-up of {user.client.email} never arrived")

    # -- the run ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """The mixed workload until ``stop`` is set (operations in flight then get up to
        ``finish_secs`` to be answered)."""
        async with contextlib.AsyncExitStack() as stack:
            if self.webhook_mischief:
                mischief = asyncio.create_task(self._webhook_mischief(stop))
                stack.push_async_callback(self._reset_webhooks)
                stack.push_async_callback(_cancel, mischief)
            await asyncio.gather(*(self._user_loop(user, stop) for user in self._users))

    async def _user_loop(self, user: _User, stop: asyncio.Event) -> None:
        ops = list(WEIGHTS)
        weights = [WEIGHTS[op] for op in ops]
        while not stop.is_set():
            op = user.rng.choices(ops, weights)[0]
            try:
                if op in ("release", "wallet_pay", "gateway_pay"):
                    await self._hold_then(user, op, stop)
                elif op == "topup" and self.emulators:
                    await self._topup(user, stop)
                elif op == "transfer" and self.emulators:
                    await self._transfer(user, stop)
            except GaveUp:
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=user.rng.uniform(0.05, 0.3))

    async def _hold_then(self, user: _User, then: str, stop: asyncio.Event) -> None:
        assert self.tenant is not None
        slot = str(user.rng.choice(self.tenant.slot_ids))
        key = f"chaos-{uuid.UUID(int=user.rng.getrandbits(128)).hex}"
        held = await self._op(
            "hold:create",
            lambda: user.client.call(
                "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": key}
            ),
            stop,
        )
        if held is None:
            return
        hold_id = str(held["hold_id"])
        self.acks.holds[hold_id] = key
        if then == "gateway_pay" and not self.emulators:
            then = "wallet_pay" if self.emulators else "release"
        if then == "release":
            released = await self._op(
                "hold:release", lambda: user.client.call("hold:release", {"hold_id": hold_id}), stop
            )
            if released is not None and released["status"] in ("released", "expired"):
                self.acks.released.add(hold_id)
        elif then == "wallet_pay":
            paid = await self._op(
                "hold:pay", lambda: user.client.call("hold:pay", {"hold_id": hold_id}), stop
            )
            if paid is not None and paid["status"] == "confirmed":
                self.acks.wallet_paid.add(hold_id)
        else:
            await self._gateway_pay(
                user, {"purpose": "hold", "ref": hold_id}, f"pay-{hold_id}", "hold", stop
            )

    async def _topup(self, user: _User, stop: asyncio.Event | None = None) -> None:
        key = f"topup-{uuid.UUID(int=user.rng.getrandbits(128)).hex}"
        body = {"purpose": "wallet_topup", "ref": user.wallet_id, "amount_paise": TOPUP_PAISE}
        await self._gateway_pay(user, body, key, "wallet_topup", stop)

    async def _gateway_pay(
        self,
        user: _User,
        body: dict[str, Any],
        key: str,
        purpose: str,
        stop: asyncio.Event | None,
    ) -> None:
        """Create the intent, pay at the gateway as the customer would; the gateway's answer
        acknowledges the payment (the hub must then settle it: webhook, verify or reconcile)."""
        view = await self._op(
            "payment:create",
            lambda: user.client.rest(
                "POST", "/api/v1/payments/intents", json=body, headers={"Idempotency-Key": key}
            ),
            stop,
        )
        if view is None:
            return
        gateway = view.get("gateway")
        if gateway is None or not view.get("checkout"):
            self.tally.refused["payment:pay"] += 1  # no order reached the customer
            return
        order_id = view["checkout"][gateway]["order_id"]
        payment_id = str(view["payment_id"])
        self.tally.attempted["payment:pay"] += 1
        answer = await self._customer_pays(gateway, order_id)
        if answer is None:
            self.tally.refused["payment:pay"] += 1
            return
        self.tally.acknowledged["payment:pay"] += 1
        self.acks.payments[payment_id] = (purpose, int(view["amount_paise"]))
        if gateway == "razorpay" and "razorpay_signature" in answer and user.rng.random() < 0.5:
            checkout = {
                k: answer[k]
                for k in ("razorpay_order_id", "razorpay_payment_id", "razorpay_signature")
            }
            with contextlib.suppress(GaveUp):
                await self._op(
                    "payment:verify",
                    lambda: user.client.rest(
                        "POST", f"/api/v1/payments/{payment_id}/verify", json=checkout
                    ),
                    stop,
                )

    async def _customer_pays(self, gateway: str, order_id: str) -> dict[str, Any] | None:
        """The customer completing checkout at the emulator: its answer, ``{}`` when the order
        was already paid (a retry), ``None`` when the gateway refused."""
        assert self._http is not None
        url = f"{self.emulators[gateway]}/_emulator/orders/{order_id}/pay"
        for _ in range(20):
            try:
                async with self._http.post(url, json={}) as resp:
                    if resp.status == 200:
                        return dict(await resp.json())
                    if resp.status == 409:
                        return {}
                    return None
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.2)
        return None

    async def _transfer(self, user: _User, stop: asyncio.Event) -> None:
        admin = self._admin
        assert admin is not None
        key = f"xfer-{uuid.UUID(int=user.rng.getrandbits(128)).hex}"
        pending = await self._op(
            "transfer:hold",
            lambda: admin.rest(
                "POST",
                f"/api/v1/wallets/{user.wallet_id}/holds",
                json={
                    "amount": TRANSFER_PAISE,
                    "timeout_secs": 600,
                    "transfer_id": key,
                    "code": "chaos_transfer",
                },
            ),
            stop,
        )
        if pending is None:
            return
        self.acks.transfers.append(pending["transfer_id"])
        posted = await self._op(
            "transfer:post",
            lambda: admin.rest(
                "POST",
                f"/api/v1/wallet-holds/{pending['transfer_id']}/post",
                json={"transfer_id": f"{key}-post"},
            ),
            stop,
        )
        if posted is not None:
            self.acks.transfers.append(posted["transfer_id"])

    # -- retrying --------------------------------------------------------------------------------

    async def _op(
        self,
        name: str,
        send: Callable[[], Awaitable[Any]],
        stop: asyncio.Event | None,
    ) -> Any:
        """Send until answered: the answer (acknowledged), ``None`` (refused), or
        :class:`GaveUp` when ``stop`` was set more than ``finish_secs`` ago."""
        self.tally.attempted[name] += 1
        try:
            answer = await self._until_answered(name, send, stop)
        except Refused:
            self.tally.refused[name] += 1
            return None
        self.tally.acknowledged[name] += 1
        return answer

    async def _until_answered(
        self,
        name: str,
        send: Callable[[], Awaitable[Any]],
        stop: asyncio.Event | None = None,
    ) -> Any:
        backoff = 0.1
        stopped_at: float | None = None
        while True:
            try:
                return await send()
            except Retryable as exc:
                self.tally.retries += 1
                if stop is not None and stop.is_set():
                    stopped_at = stopped_at or time.monotonic()
                    if time.monotonic() - stopped_at > self.finish_secs:
                        self.tally.gave_up[name] += 1
                        self.log(f"gave up {name}: {exc}")
                        raise GaveUp(name) from exc
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    # -- webhooks --------------------------------------------------------------------------------

    async def set_webhook_policy(self, policy: dict[str, Any]) -> None:
        """Replace every emulator's webhook policy (``{}`` resets it)."""
        assert self._http is not None
        for root in self.emulators.values():
            async with self._http.post(f"{root}/_emulator/webhooks/mode", json=policy) as resp:
                resp.raise_for_status()

    async def _webhook_mischief(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.rng.random())
        while not stop.is_set():
            await self.set_webhook_policy(
                {
                    "duplicate": rng.choice((1, 1, 2, 3)),
                    "reorder": rng.random() < 0.4,
                    "drop": rng.random() < 0.2,
                    "max_attempts": 3,
                }
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.5)

    async def _reset_webhooks(self) -> None:
        with contextlib.suppress(aiohttp.ClientError):
            await self.set_webhook_policy({})

    # -- afterwards ------------------------------------------------------------------------------

    @property
    def attempted(self) -> int:
        return sum(self.tally.attempted.values())

    @property
    def acknowledged(self) -> int:
        return sum(self.tally.acknowledged.values())

    async def settle(self, *, within_secs: float = 30.0) -> bool:
        """Wait until every acknowledged payment has an outcome and every confirmed booking
        its notification (the hub's webhook processor, reconcile job and relay at work), at
        most ``within_secs``; True if everything settled."""
        assert self.tenant is not None
        ids = [UUID(p) for p in self.acks.payments]
        deadline = time.monotonic() + within_secs
        conn = await asyncpg.connect(self.dsn)
        try:
            while True:
                open_intents = await chaos_db.unsettled_intents(conn, ids)
                counts = await chaos_db.confirmation_counts(conn, tenant_id=self.tenant.tenant_id)
                if open_intents == 0 and all(n >= 1 for n in counts.values()):
                    await self.read_inboxes()
                    return True
                if time.monotonic() > deadline:
                    self.log(
                        f"not settled after {within_secs}s: {open_intents} payment(s) without "
                        f"outcome, {sum(1 for n in counts.values() if n == 0)} booking(s) "
                        "without notification"
                    )
                    await self.read_inboxes()
                    return False
                await asyncio.sleep(0.5)
        finally:
            await conn.close()

    async def read_inboxes(self) -> None:
        """Every user reads their whole inbox over REST (``GET /api/v1/notifications``): the
        bookings their ``booking_confirmed`` notifications name go to :attr:`inbox`."""
        booked: set[str] = set()

        async def read(user: _User) -> None:
            cursor: str | None = None
            while True:
                query = "?limit=100" + (f"&cursor={quote(cursor)}" if cursor else "")
                page = await self._op(
                    "notifications:list",
                    functools.partial(user.client.rest, "GET", f"/api/v1/notifications{query}"),
                    None,
                )
                if page is None:
                    return
                booked.update(
                    str(item["data"]["booking_id"])
                    for item in page["items"]
                    if item["type"] == "booking_confirmed" and "booking_id" in item["data"]
                )
                cursor = page.get("next_cursor")
                if not cursor:
                    return

        await asyncio.gather(*(read(user) for user in self._users))
        self.inbox = booked

    async def lost(self, conn: asyncpg.Connection) -> list[str]:
        """Every acknowledged operation missing from PostgreSQL, or whose effect is doubled,
        one line each (empty when nothing acknowledged was lost)."""
        assert self.tenant is not None
        tenant_id = self.tenant.tenant_id
        lost: list[str] = []
        holds = await chaos_db.holds_by_id(conn, tenant_id=tenant_id)
        for hold_id, key in self.acks.holds.items():
            if hold_id not in holds:
                lost.append(f"hold {hold_id} (key {key}) acknowledged, not in holds")
        lost += [
            f"hold key {key} made more than one hold"
            for key in await chaos_db.duplicate_hold_keys(conn, tenant_id=tenant_id)
        ]
        for hold_id in sorted(self.acks.released):
            row = holds.get(hold_id)
            if row is not None and row["status"] not in ("released", "expired"):
                lost.append(f"hold {hold_id} released, now {row['status']}")
        for hold_id in sorted(self.acks.wallet_paid):
            row = holds.get(hold_id)
            if row is not None and (row["status"] != "confirmed" or row["wallet_state"] != "done"):
                lost.append(
                    f"hold {hold_id} paid from the wallet, now {row['status']} "
                    f"(wallet payment {row['wallet_state']})"
                )
        intents = await chaos_db.intents_by_id(conn, tenant_id=tenant_id)
        for payment_id, (purpose, amount) in sorted(self.acks.payments.items()):
            intent = intents.get(payment_id)
            if intent is None:
                lost.append(f"payment {payment_id} paid at the gateway, not in payment_intents")
            elif intent["status"] != "captured" or intent["outcome"] is None:
                lost.append(
                    f"payment {payment_id} paid at the gateway, {intent['status']} with outcome "
                    f"{intent['outcome']}"
                )
            elif intent["captured_paise"] - intent["refunded_paise"] > amount:
                lost.append(
                    f"payment {payment_id} doubled: captured {intent['captured_paise']}, "
                    f"refunded {intent['refunded_paise']}, amount {amount}"
                )
            elif (
                purpose == "wallet_topup"
                and intent["outcome"] == "wallet_credited"
                and not (intent["credited"])
            ):
                lost.append(f"top-up {payment_id} wallet_credited without its ledger transfer")
        present = await chaos_db.existing_transfers(conn, self.acks.transfers)
        lost += [
            f"transfer {t} acknowledged, not in ledger_transfers"
            for t in self.acks.transfers
            if t not in present
        ]
        for hold_id, n in sorted(
            (await chaos_db.confirmation_counts(conn, tenant_id=tenant_id)).items()
        ):
            if n != 1:
                lost.append(f"confirmed booking {hold_id} has {n} booking_confirmed notifications")
            elif self.inbox is not None and hold_id not in self.inbox:
                lost.append(f"confirmed booking {hold_id}: not in its user's inbox (REST)")
        lost += [
            f"wallet {d['wallet_id']} balance {d['balance']} != {d['expected']} explained by "
            "its top-ups, bookings and transfers"
            for d in await chaos_db.user_wallet_drift(conn, tenant_id=tenant_id)
        ]
        return lost

    def details(self) -> dict[str, Any]:
        return {
            "ops": {
                name: {
                    "attempted": self.tally.attempted[name],
                    "acknowledged": self.tally.acknowledged[name],
                    "refused": self.tally.refused[name],
                    "gave_up": self.tally.gave_up[name],
                }
                for name in sorted(self.tally.attempted)
            },
            "retries": self.tally.retries,
            "failovers": sum(u.client.failovers for u in self._users),
            "users": len(self._users),
            **self.extra,
        }


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
