"""The workload's lost-operation accounting finds what is missing or doubled: a clean run
reports nothing, then each kind of damage done to the database on purpose is named."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from hub.chaos.env import chaos_environment
from hub.chaos.options import ChaosOptions
from hub.chaos.workload import Workload

pytestmark = pytest.mark.timeout(150)


async def test_lost_names_missing_and_doubled_acknowledged_operations(pg_dsn: str, ray_session):
    async with chaos_environment(ChaosOptions(seed=3, dsn=pg_dsn)) as env:
        workload = Workload(env.urls, env.dsn, random.Random(3), 3, emulators=env.emulators)
        try:
            await workload.setup()
            stop = asyncio.Event()
            running = asyncio.create_task(workload.run(stop))
            await asyncio.sleep(4)
            stop.set()
            await running
            assert await workload.settle(within_secs=30)
            acks = workload.acks
            assert acks.released and acks.wallet_paid and acks.payments and acks.transfers
            conn = await asyncpg.connect(env.dsn)
            try:
                assert await workload.lost(conn) == []
                released = sorted(acks.released)[0]
                paid = sorted(acks.wallet_paid)[0]
                payment = sorted(acks.payments)[0]
                await conn.execute("UPDATE holds SET status = 'held' WHERE id = $1::uuid", released)
                await conn.execute(
                    "DELETE FROM notifications WHERE type = 'booking_confirmed' "
                    "AND data ->> 'booking_id' = $1",
                    paid,
                )
                await conn.execute(
                    "UPDATE payment_intents SET captured_paise = 2 * captured_paise "
                    "WHERE id = $1::uuid",
                    payment,
                )
                acks.transfers.append("never-made-transfer")
                lost = await workload.lost(conn)
            finally:
                await conn.close()
        finally:
            await workload.close()
    text = "\n".join(lost)
    assert f"hold {released} released, now held" in text
    assert f"confirmed booking {paid} has 0 booking_confirmed notifications" in text
    assert f"payment {payment} doubled" in text
    assert "transfer never-made-transfer acknowledged, not in ledger_transfers" in text
