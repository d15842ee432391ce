"""Devices watching the chaos tenant's availability stream through the faults, as the README's
client contract says a device should: subscribe, apply deltas by ``seq``, and after a lost
connection (its hub killed) or a ``feed:resync`` / ``availability:resync``, subscribe again
with ``since`` = the last ``seq`` applied, on the next hub URL if the old one is gone.

Afterwards :meth:`StreamWatchers.check` compares what each device received with the stream's
events in PostgreSQL: every ``seq`` from the device's first snapshot up to the stream's head
must have reached it (a *gap* is a committed change a device never saw); a ``seq`` received
twice is a *duplicate*; a ``reset`` answer means the hub could not replay.

The watchers find the workload's tenant in the database (the only ``chaos-*`` tenant of the
scenario's fresh database) and log in as its users with the workload's password, so they run
beside :func:`hub.chaos.driver.drive` without reaching into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import socketio

from hub.chaos.client import (
    CALL_TIMEOUT_SECS,
    ChaosClient,
    Refused,
    Retryable,
    close_refused,
)
from hub.chaos.workload import PASSWORD

FIND_TENANT_WITHIN_SECS = 120.0
CATCH_UP_WITHIN_SECS = 30.0


@dataclass(frozen=True)
class WatchedStream:
    tenant_id: str
    resource_id: str
    date: str
    emails: tuple[str, ...]
    admin_email: str

    @property
    def stream(self) -> str:
        return f"availability:{self.tenant_id}:{self.resource_id}:{self.date}"

    def subscribe_payload(self, since: int | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "resource_id": self.resource_id,
            "date": self.date,
        }
        if since is not None:
            payload["since"] = since
        return payload


@dataclass
class Device:
    """One watcher's record: ``first_seq`` is its first snapshot's seq, ``seqs`` every delta
    seq it received (in arrival order), ``applied`` the highest contiguous one."""

    index: int
    first_seq: int | None = None
    applied: int | None = None
    seqs: list[int] = field(default_factory=list)
    skipped: set[int] = field(default_factory=set)  # jumped over after a ``reset`` answer
    modes: Counter[str] = field(default_factory=Counter)
    replayed: int = 0
    reconnects: int = 0
    resyncs: int = 0
    url: str = ""
    notices: list[str] = field(default_factory=list)  # titles of `notification` events


async def find_chaos_stream(
    dsn: str, *, within_secs: float = FIND_TENANT_WITHIN_SECS
) -> WatchedStream:
    """The availability stream of the workload's tenant, once the workload created it."""
    deadline = time.monotonic() + within_secs
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            row = await conn.fetchrow(
                "SELECT t.id AS tenant_id, r.id AS resource_id, min(s.local_date) AS day "
                "FROM tenants t JOIN resources r ON r.tenant_id = t.id "
                "JOIN slots s ON s.resource_id = r.id "
                "WHERE t.slug LIKE 'chaos-%' GROUP BY t.id, r.id"
            )
            if row is not None:
                people = await conn.fetch(
                    "SELECT email, role FROM users WHERE tenant_id = $1 ORDER BY email",
                    row["tenant_id"],
                )
                users = tuple(r["email"] for r in people if r["role"] == "user")
                admins = [r["email"] for r in people if r["role"] == "tenant_admin"]
                if users and admins:
                    return WatchedStream(
                        str(row["tenant_id"]),
                        str(row["resource_id"]),
                        row["day"].isoformat(),
                        users,
                        admins[0],
                    )
            if time.monotonic() > deadline:
                raise RuntimeError("the chaos workload's tenant never appeared")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


class StreamWatchers:
    """``count`` devices spread over ``urls`` (device ``i`` starts at ``urls[i % len]``)."""

    def __init__(self, urls: Sequence[str], dsn: str, *, count: int = 4) -> None:
        self.urls = list(urls)
        self.dsn = dsn
        self.count = count
        self.devices = [Device(i) for i in range(count)]
        self.target: WatchedStream | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._probe_title: str | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        self.target = await find_chaos_stream(self.dsn)
        self._http = aiohttp.ClientSession()
        try:
            await asyncio.gather(*(self._watch(device) for device in self.devices))
        finally:
            await self._http.close()

    async def catch_up(self) -> bool:
        """Wait until every device applied the stream's head (at most
        ``CATCH_UP_WITHIN_SECS``); True if all did."""
        if self._task is None or self.target is None:
            return False
        head = await self._head()
        deadline = time.monotonic() + CATCH_UP_WITHIN_SECS
        while not self._task.done():
            if all(d.applied is not None and d.applied >= head for d in self.devices):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
        return False

    async def probe_notice(self) -> None:
        """The tenant admin sends one ``system`` notice to the devices' users through the first
        hub; each device (on whichever hub it is) must get its ``notification`` event — on
        another hub only through Redis. Outcome in :meth:`check` (``cross_hub_notice``)."""
        assert self.target is not None and self._http is not None
        target = self.target
        admin = ChaosClient(
            self.urls, start=0, email=target.admin_email, password=PASSWORD, http=self._http
        )
        self._probe_title = f"Chaos probe {uuid.uuid4().hex[:8]}"
        users = await self._user_ids([d.index for d in self.devices])
        body = {
            "user_ids": users,
            "title": self._probe_title,
            "body": "Sent after the faults; every device must receive it once.",
            "idempotency_key": uuid.uuid4().hex,
        }
        for _ in range(30):
            try:
                await admin.rest(
                    "POST", f"/api/v1/tenants/{target.tenant_id}/notifications", json=body
                )
                break
            except Retryable:
                await asyncio.sleep(0.5)
        deadline = time.monotonic() + CATCH_UP_WITHIN_SECS
        while time.monotonic() < deadline:
            if all(self._probe_title in d.notices for d in self.devices):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)  # and once each: a duplicate would come now

    async def _user_ids(self, indexes: list[int]) -> list[str]:
        assert self.target is not None
        emails = sorted({self.target.emails[i % len(self.target.emails)] for i in indexes})
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch("SELECT id FROM users WHERE email = ANY($1::text[])", emails)
        finally:
            await conn.close()
        return [str(r["id"]) for r in rows]

    async def stop(self) -> None:
        """Disconnect every device."""
        if self._task is None:
            return
        self._stop.set()
        await self._task

    async def cancel(self) -> None:
        """Stop at once (after a failure); a no-op once stopped."""
        if self._task is None or self._task.done():
            return
        self._stop.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _head(self) -> int:
        assert self.target is not None
        conn = await asyncpg.connect(self.dsn)
        try:
            head = await conn.fetchval(
                "SELECT max(seq) FROM availability_events WHERE stream = $1", self.target.stream
            )
        finally:
            await conn.close()
        return int(head or 0)

    async def _watch(self, device: Device) -> None:
        assert self.target is not None and self._http is not None
        target = self.target
        email = target.emails[device.index % len(target.emails)]
        client = ChaosClient(
            self.urls, start=device.index, email=email, password=PASSWORD, http=self._http
        )
        rng = random.Random(device.index)
        while not self._stop.is_set():
            try:
                await self._session(device, client, target)
            except (Retryable, Refused, OSError, TimeoutError, socketio.exceptions.SocketIOError):
                client.fail_over()
            if not self._stop.is_set():
                device.reconnects += 1
                await asyncio.sleep(rng.uniform(0.1, 0.4))

    async def _session(self, device: Device, client: ChaosClient, target: WatchedStream) -> None:
        """One connection: subscribe (again, with ``since``) whenever told to, until the
        connection is lost or the watchers stop."""
        if client.token is None:
            await client.login()
        sio = socketio.AsyncClient(reconnection=False)
        resubscribe = asyncio.Event()
        gone = asyncio.Event()

        def on_delta(data: dict[str, Any]) -> None:
            if data.get("stream") != target.stream:
                return
            seq = int(data["seq"])
            if data.get("coalesced"):
                # A folded delta stands for every seq in from_seq..seq (README, slow consumers).
                device.seqs.extend(range(int(data["from_seq"]), seq))
            device.seqs.append(seq)
            if device.first_seq is not None:
                device.applied = self._contiguous(device)

        def on_resync(_data: Any = None) -> None:
            device.resyncs += 1
            resubscribe.set()

        def on_notification(data: dict[str, Any]) -> None:
            device.notices.append(str(data.get("title")))

        sio.on("availability", on_delta)
        sio.on("notification", on_notification)
        sio.on("feed:resync", on_resync)
        sio.on("availability:resync", on_resync)
        sio.on("disconnect", gone.set)
        device.url = client.url
        try:
            await sio.connect(
                client.url,
                auth={"token": client.token},
                transports=["websocket"],
                wait_timeout=CALL_TIMEOUT_SECS,
            )
        except socketio.exceptions.ConnectionError as exc:
            await close_refused(sio)
            if "unauthorized" in str(exc):
                client.token = None
            raise Retryable(f"connect: {exc!r}") from exc
        try:
            while not self._stop.is_set() and not gone.is_set():
                resubscribe.clear()
                ack = await sio.call(
                    "availability:subscribe",
                    target.subscribe_payload(device.applied),
                    timeout=CALL_TIMEOUT_SECS,
                )
                if not ack.get("ok"):
                    raise Retryable(f"availability:subscribe: {ack}")
                data = ack["data"]
                device.modes[data["mode"]] += 1
                device.replayed += int(data.get("replayed", 0))
                if device.first_seq is None:
                    device.first_seq = int(data["seq"])
                if data["mode"] == "reset":
                    # Nothing replayed: the device starts again from this snapshot (the seqs
                    # it skipped count as gaps).
                    device.skipped.update(range((device.applied or 0) + 1, int(data["seq"]) + 1))
                # Deltas that came before the ack are applied already; a snapshot ahead of
                # them is followed by their later deltas.
                device.applied = self._contiguous(device)
                waits = [
                    asyncio.create_task(self._stop.wait()),
                    asyncio.create_task(gone.wait()),
                    asyncio.create_task(resubscribe.wait()),
                ]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in waits:
                        task.cancel()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), timeout=5)
        if gone.is_set() and not self._stop.is_set():
            client.fail_over()

    @staticmethod
    def _contiguous(device: Device) -> int:
        """The highest seq such that every seq from the first snapshot up to it arrived."""
        assert device.first_seq is not None
        seen = set(device.seqs) | device.skipped
        top = device.first_seq
        while top + 1 in seen:
            top += 1
        return top

    async def check(self) -> tuple[list[str], dict[str, Any]]:
        """(one line per seq a device never received, details for the report)."""
        if self.target is None:
            return ["the subscribers never found the workload's stream"], {}
        head = await self._head()
        lost: list[str] = []
        gaps_total = duplicates_total = 0
        per_device = []
        for device in self.devices:
            if device.first_seq is None:
                lost.append(f"subscriber {device.index} never subscribed")
                continue
            seen = Counter(device.seqs)
            missing = [s for s in range(device.first_seq + 1, head + 1) if s not in seen]
            duplicates = sum(n - 1 for n in seen.values() if n > 1)
            gaps_total += len(missing)
            duplicates_total += duplicates
            lost += [
                f"subscriber {device.index} never received availability seq {s}" for s in missing
            ]
            per_device.append(
                {
                    "first_seq": device.first_seq,
                    "received": len(device.seqs),
                    "reconnects": device.reconnects,
                    "resyncs": device.resyncs,
                    "replayed": device.replayed,
                    "modes": dict(device.modes),
                }
            )
        details = {
            "stream_head": head,
            "subscribers": len(self.devices),
            "resumed_by_since": sum(d.modes["replay"] for d in self.devices),
            "resets": sum(d.modes["reset"] for d in self.devices),
            "seq_gaps": gaps_total,
            "duplicates": duplicates_total,
            "devices": per_device,
        }
        if self._probe_title is not None:
            reached = [d.notices.count(self._probe_title) for d in self.devices]
            details["cross_hub_notice"] = {
                "devices_reached": sum(1 for n in reached if n == 1),
                "devices": len(self.devices),
                "hubs_of_devices": sorted({d.url for d in self.devices}),
            }
            lost += [
                f"subscriber {d.index} on {d.url} got the notice sent through {self.urls[0]} "
                f"{n} times"
                for d, n in zip(self.devices, reached, strict=True)
                if n != 1
            ]
        return lost, details
