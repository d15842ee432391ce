"""Freed places go to the waiting list first: between two offer rounds a plain hold cannot take
a place the slot's waiters are queued for."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg

from actors.commands import RefreshTenantCommand
from hub import keys
from tests.devotional_support import call, make_temple
from tests.support import Hub, connect, eventually, user_token


async def test_a_released_place_goes_to_the_waiter_and_a_racing_hold_is_sold_out(
    hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db, puja_capacity=1, users=3)
    holder, waiter, racer = (user_token(hub, temple.world, i) for i in range(3))
    slot = str(temple.puja_slot_id)
    holds = f"{hub.url}/api/v1/holds"
    waiter_socket = await connect(hub, waiter)
    try:
        async with aiohttp.ClientSession() as http:
            status, held = await call(
                http, "POST", holds, holder, {"slot_id": slot, "qty": 1, "idempotency_key": "h"}
            )
            assert status == 201, held
            status, entry = await call(
                http,
                "POST",
                f"{hub.url}/api/v1/slots/{slot}/waitlist",
                waiter,
                {"qty": 1, "idempotency_key": "w"},
            )
            assert status == 201, entry

            # The place comes back and someone else asks for it at once, before any round.
            status, _ = await call(http, "DELETE", f"{holds}/{held['hold_id']}", holder)
            assert status == 200
            status, refused = await call(
                http, "POST", holds, racer, {"slot_id": slot, "qty": 1, "idempotency_key": "r"}
            )
            assert status == 409, refused
            assert refused["error"]["code"] == "sold_out"
            assert refused["error"]["details"]["reserved_for_waitlist"] == 1

            # Joining behind the waiter is possible: the free place is not free for others.
            status, second = await call(
                http,
                "POST",
                f"{hub.url}/api/v1/slots/{slot}/waitlist",
                racer,
                {"qty": 1, "idempotency_key": "w2"},
            )
            assert status == 201 and second["position"] == 2, second

            await eventually(lambda: bool(waiter_socket.received("waitlist:offer")), within=10)
            [offer] = waiter_socket.received("waitlist:offer")
            assert offer["entry_id"] == entry["entry_id"]
            status, mine = await call(
                http, "GET", f"{hub.url}/api/v1/waitlist/{entry['entry_id']}", waiter
            )
            assert mine["status"] == "offered", mine
            # The racer left the queue: nothing is kept for nobody.
            status, left = await call(
                http, "DELETE", f"{hub.url}/api/v1/waitlist/{second['entry_id']}", racer
            )
            assert status == 200 and left["status"] == "cancelled"
    finally:
        await waiter_socket.close()
    async with db.acquire() as conn:
        held_qty = await conn.fetchval(
            "SELECT held_qty FROM slots WHERE id = $1", temple.puja_slot_id
        )
        racer_holds = await conn.fetchval(
            "SELECT count(*) FROM holds WHERE slot_id = $1 AND user_id = $2",
            temple.puja_slot_id,
            temple.world.user_ids[2],
        )
    assert held_qty == 1 and racer_holds == 0

    # The offer's notice is a waitlist_offer of its own, lapsing with the offered hold.
    async def notice() -> asyncpg.Record | None:
        async with db.acquire() as conn:
            return await conn.fetchrow(
                "SELECT type, priority, data, expires_at FROM notifications "
                "WHERE user_id = $1 AND type = 'waitlist_offer'",
                temple.world.user_ids[1],
            )

    for _ in range(100):
        if (row := await notice()) is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None and row["priority"] == "high"
    assert row["expires_at"].isoformat() == offer["expires_at"]


async def test_an_actor_that_reloads_its_tenant_still_keeps_the_waiters_places(
    hub: Hub, db: asyncpg.Pool
) -> None:
    temple = await make_temple(db, puja_capacity=2, users=3)
    holder, waiter, racer = (user_token(hub, temple.world, i) for i in range(3))
    slot = str(temple.puja_slot_id)
    holds = f"{hub.url}/api/v1/holds"
    async with aiohttp.ClientSession() as http:
        status, held = await call(
            http, "POST", holds, holder, {"slot_id": slot, "qty": 2, "idempotency_key": "h"}
        )
        assert status == 201, held
        status, entry = await call(
            http,
            "POST",
            f"{hub.url}/api/v1/slots/{slot}/waitlist",
            waiter,
            {"qty": 2, "idempotency_key": "w"},
        )
        assert status == 201, entry
        # The tenant's actor drops everything it knew and reloads from PostgreSQL.
        await hub.app[keys.SHARDS].execute(RefreshTenantCommand(temple.world.tenant_id))
        status, _ = await call(http, "DELETE", f"{holds}/{held['hold_id']}", holder)
        assert status == 200
        status, refused = await call(
            http, "POST", holds, racer, {"slot_id": slot, "qty": 1, "idempotency_key": "r"}
        )
        assert status == 409 and refused["error"]["code"] == "sold_out", refused
        assert refused["error"]["details"]["reserved_for_waitlist"] == 2
