"""Slow consumers of availability deltas: a real long-polling client that stops polling.

Its Engine.IO queue fills up to the bound (``socket_send_queue_max``) and no further; deltas for
the stream are then folded into one coalesced delta, which it gets when it catches up, or, if it
stays behind past ``socket_behind_resync_secs``, an ``availability:resync`` and the server drops
its subscription. Either way it ends with the exact state; a fast WebSocket client subscribed to
the same stream gets every delta, in order, meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp

from hub import keys
from tests.support import Client, Hub, World, connect, eventually, make_world, subscribe, user_token

RECORD_SEPARATOR = "\x1e"


class PollingClient:
    """A raw Engine.IO v4 long-polling client (no WebSocket upgrade) on namespace ``/``; it
    sends only when told to and polls only when told to."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self._http = http
        self._url = f"{url}/socket.io/"
        self.eio_sid = ""
        self.sid = ""
        self.events: list[tuple[str, Any]] = []  # (event, data) in arrival order
        self.acks: dict[int, Any] = {}

    async def open(self, token: str) -> None:
        (opened,) = await self._get()
        assert opened.startswith("0"), opened
        self.eio_sid = json.loads(opened[1:])["sid"]
        await self._post("40" + json.dumps({"token": token}))
        while not self.sid:
            await self.poll()

    async def call(self, ack_id: int, event: str, data: Any) -> Any:
        await self._post(f"42{ack_id}" + json.dumps([event, data]))
        while ack_id not in self.acks:
            await self.poll()
        return self.acks.pop(ack_id)

    async def poll(self) -> None:
        """One long-polling GET; records what it brings."""
        for pkt in await self._get():
            if pkt == "2":
                await self._post("3")
            elif pkt.startswith("40"):
                self.sid = json.loads(pkt[2:])["sid"]
            elif pkt.startswith("42"):
                event, data = json.loads(pkt[2:])
                self.events.append((event, data))
            elif pkt.startswith("43"):
                body = pkt[2:]
                split = body.index("[")
                self.acks[int(body[:split])] = json.loads(body[split:])[0]

    async def close(self) -> None:
        await self._post("1")

    async def _get(self) -> list[str]:
        params = {"EIO": "4", "transport": "polling", "t": uuid.uuid4().hex[:8]}
        if self.eio_sid:
            params["sid"] = self.eio_sid
        async with self._http.get(self._url, params=params) as resp:
            assert resp.status == 200, await resp.text()
            return (await resp.text()).split(RECORD_SEPARATOR)

    async def _post(self, pkt: str) -> None:
        params = {"EIO": "4", "transport": "polling", "sid": self.eio_sid}
        async with self._http.post(self._url, params=params, data=pkt.encode()) as resp:
            assert resp.status == 200, await resp.text()


def _apply(state: dict[str, int], seq: int, delta: dict[str, Any]) -> int:
    """Apply one ``availability`` delta to slot → available; returns the new seq."""
    if delta["seq"] <= seq:
        return seq
    for slot in delta["slots"]:
        state[slot["slot_id"]] = slot["available"]
    return int(delta["seq"])


def _state(ack: dict[str, Any]) -> dict[str, int]:
    return {s["slot_id"]: s["available"] for s in ack["slots"]}


def _subscribe_payload(world: World, since: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "tenant_id": str(world.tenant_id),
        "resource_id": str(world.resource_id),
        "date": world.date,
    }
    if since is not None:
        payload["since"] = since
    return payload


async def _fill_until_behind(
    hub: Hub, world: World, fast: Client, slow: PollingClient, *, extra: int
) -> tuple[int, int]:
    """Hold places one at a time (alternating slots) until ``extra`` deltas past the queue bound
    have been sent; returns (deltas made, largest queue length seen for ``slow``)."""
    broadcaster = hub.app[keys.FANOUT].broadcaster
    sock = hub.app[keys.SIO].eio.sockets[slow.eio_sid]
    largest = 0
    made = broadcaster.send_queue_max + extra
    for i in range(made):
        ack = await fast.call(
            "hold:create",
            {
                "slot_id": str(world.slot_ids[i % len(world.slot_ids)]),
                "qty": 1,
                "idempotency_key": uuid.uuid4().hex,
            },
        )
        assert ack["ok"], ack
        largest = max(largest, sock.queue.qsize())
    return made, largest


async def _setup(
    hub: Hub, http: aiohttp.ClientSession, world: World
) -> tuple[Client, PollingClient]:
    fast = await connect(hub, user_token(hub, world, 0))
    await subscribe(fast, world)
    slow = PollingClient(http, hub.url)
    await slow.open(user_token(hub, world, 1))
    return fast, slow


async def test_a_client_that_stops_polling_is_bounded_then_catches_up_with_coalesced_values(
    hub: Hub, db: Any
):
    world = await make_world(db, capacity=1000, slots=3, users=2)
    broadcaster = hub.app[keys.FANOUT].broadcaster
    async with aiohttp.ClientSession() as http:
        fast, slow = await _setup(hub, http, world)
        try:
            ack = await slow.call(0, "availability:subscribe", _subscribe_payload(world))
            assert ack["ok"], ack
            stream, seq, state = ack["data"]["stream"], ack["data"]["seq"], _state(ack["data"])
            fell_behind = time.monotonic()
            made, largest = await _fill_until_behind(hub, world, fast, slow, extra=20)
            assert time.monotonic() - fell_behind < broadcaster.behind_resync_secs, "too slow"
            # Bounded: the queue stopped at the bound; the rest waits as one pending delta.
            assert largest <= broadcaster.send_queue_max
            assert broadcaster.withheld() >= 1

            # The client reads again before it must resync: queued deltas, then one coalesced.
            last = seq + made
            deadline = asyncio.get_running_loop().time() + 10
            while seq < last:
                assert asyncio.get_running_loop().time() < deadline, (seq, last)
                await slow.poll()
                for event, delta in slow.events:
                    assert event == "availability", event
                    seq = _apply(state, seq, delta)
                slow.events.clear()
            assert seq == last
            assert broadcaster.coalesced_sent >= 1

            # The fast client on the same stream got every delta, in order, none coalesced.
            await eventually(lambda: len(fast.deltas_for(stream)) == made)
            fast_deltas = fast.deltas_for(stream)
            assert [d["seq"] for d in fast_deltas] == list(range(ack["data"]["seq"] + 1, last + 1))
            assert not any(d.get("coalesced") for d in fast_deltas)
            fast_state = _state(ack["data"])
            for d in fast_deltas:
                _apply(fast_state, 0, d)
            assert state == fast_state
            assert sum(1000 - a for a in state.values()) == made
        finally:
            await fast.close()
            await slow.close()


async def test_a_client_that_stays_behind_is_told_to_resync_and_resumes_with_since(
    hub: Hub, db: Any
):
    world = await make_world(db, capacity=1000, slots=2, users=2)
    broadcaster = hub.app[keys.FANOUT].broadcaster
    sio = hub.app[keys.SIO]
    async with aiohttp.ClientSession() as http:
        fast, slow = await _setup(hub, http, world)
        try:
            ack = await slow.call(0, "availability:subscribe", _subscribe_payload(world))
            assert ack["ok"], ack
            stream, seq, state = ack["data"]["stream"], ack["data"]["seq"], _state(ack["data"])
            resyncs_before = broadcaster.resyncs_sent
            made, largest = await _fill_until_behind(hub, world, fast, slow, extra=5)
            assert largest <= broadcaster.send_queue_max

            # It stays behind: told to resync, and its subscription is dropped by the server.
            await eventually(
                lambda: broadcaster.resyncs_sent > resyncs_before,
                within=broadcaster.behind_resync_secs + 5,
            )
            await eventually(lambda: slow.sid not in sio.manager.rooms["/"].get(stream, {}))
            sock = sio.eio.sockets[slow.eio_sid]
            queued = sock.queue.qsize()
            assert queued <= broadcaster.send_queue_max + 1
            more = 3
            for i in range(more):
                hold = {"slot_id": str(world.slot_ids[i % 2]), "qty": 1}
                done = await fast.call("hold:create", {**hold, "idempotency_key": uuid.uuid4().hex})
                assert done["ok"], done
            await eventually(lambda: len(fast.deltas_for(stream)) == made + more)
            assert sock.queue.qsize() == queued, "deltas still queued after the resync"

            # The client drains what was queued: deltas in order, then the resync, last.
            resync: dict[str, Any] | None = None
            while resync is None:
                await slow.poll()
                for event, data in slow.events:
                    if event == "availability:resync":
                        resync = data
                    else:
                        assert event == "availability" and resync is None, event
                        seq = _apply(state, seq, data)
                slow.events.clear()
            assert resync == {
                "stream": stream,
                "seq": ack["data"]["seq"] + made,
                "reason": "slow_consumer",
            }

            # Resubscribing with since: the missed deltas, then the ack; exact final state.
            again = await slow.call(1, "availability:subscribe", _subscribe_payload(world, seq))
            assert again["ok"], again
            for event, data in slow.events:
                assert event == "availability", event
                seq = _apply(state, seq, data)
            slow.events.clear()
            final_seq = ack["data"]["seq"] + made + more
            assert again["data"]["seq"] == final_seq
            if again["data"]["mode"] == "replay":
                assert seq == final_seq
                assert state == _state(again["data"])
            assert sum(1000 - a for a in _state(again["data"]).values()) == made + more
            fast_deltas = fast.deltas_for(stream)
            assert [d["seq"] for d in fast_deltas] == list(
                range(ack["data"]["seq"] + 1, final_seq + 1)
            )
        finally:
            await fast.close()
            await slow.close()
