"""The devotional platform's story, end to end through a real hub, real sockets, the wallet
actors and a real S3 API (moto's server):

A devotee books Rudrabhishek for her family — a sankalp for three names and two chadhava
offerings — and pays from her wallet. The temple's admin assigns a pandit; the pandit sees the
booking with every name, gotra and nakshatra and the offerings, starts the puja live (the
devotee's socket gets ``live:status``), uploads the video of the puja to S3 (the devotee is
notified), completes it, and the pandit's earnings are booked: the price minus the platform's
10 %, once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import S3Server, hub_settings, start_hub
from tests.devotional_support import CHADHAVA_PRICE, PUJA_PRICE, book_puja, call, make_temple
from tests.support import (
    Hub,
    admin_token,
    connect,
    create_database,
    eventually,
    fund_wallet,
    staff_token,
    user_token,
)

VIDEO = b"\x00\x00\x00\x18ftypmp42" + os.urandom(8192)


@pytest.fixture(scope="module")
async def story_db(migrated_dsn: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    dsn = await create_database(migrated_dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5)
    yield dsn, pool
    await pool.close()


@pytest.fixture(scope="module")
async def story_hub(
    story_db: tuple[str, asyncpg.Pool], ray_session: None, s3_server: S3Server
) -> AsyncIterator[Hub]:
    bucket = await s3_server.create_bucket()
    handle, runner = await start_hub(
        hub_settings(**s3_server.settings(bucket), earnings_poll_secs=0.2), story_db[0]
    )
    yield handle
    await runner.cleanup()


async def test_a_family_rudrabhishek_from_booking_to_the_pandits_earnings(
    story_hub: Hub, story_db: tuple[str, asyncpg.Pool], s3_server: S3Server
) -> None:
    db = story_db[1]
    temple = await make_temple(db)
    world = temple.world
    hub = story_hub
    devotee = user_token(hub, world)
    pandit = staff_token(hub, world)
    total = 3 * PUJA_PRICE + 3 * CHADHAVA_PRICE
    await fund_wallet(hub, db, world, total)
    devotee_socket = await connect(hub, devotee)
    pandit_socket = await connect(hub, pandit)
    try:
        async with aiohttp.ClientSession() as http:
            # She books for her family: three names, one Bel Patra and two Panchamrit.
            status, group = await book_puja(
                http, hub, devotee, temple, ["Sita Devi", "Ram Prasad", "Ankit"], [(0, 1), (1, 2)]
            )
            assert status == 201, group
            assert [(h["role"], h["qty"]) for h in group["holds"]] == [
                ("puja", 3),
                ("offering", 1),
                ("offering", 2),
            ]
            assert group["amount_paise"] == total and group["status"] == "held"

            # She pays from her wallet: every hold of the group is confirmed.
            status, paid = await call(
                http,
                "POST",
                f"{hub.url}/api/v1/devotional/bookings/{group['group_id']}/pay-from-wallet",
                devotee,
            )
            assert status == 200 and paid["status"] == "confirmed", paid
            booking = group["booking_id"]

            # The admin assigns the pandit.
            status, assigned = await call(
                http,
                "PUT",
                f"{hub.url}/api/v1/bookings/{booking}/assignee",
                await admin_token(hub, db, world),
                {"staff_user_id": str(world.staff_id)},
            )
            assert status == 200 and assigned["status"] == "assigned", assigned

            # The pandit sees it with the whole sankalp and the offerings.
            status, mine = await call(http, "GET", f"{hub.url}/api/v1/staff/bookings", pandit)
            assert status == 200, mine
            [seen] = mine["bookings"]
            assert seen["booking_id"] == booking and seen["qty"] == 3
            assert [p["name"] for p in seen["participants"]] == [
                "Sita Devi",
                "Ram Prasad",
                "Ankit",
            ]
            assert {p["gotra"] for p in seen["participants"]} == {"Kashyap"}
            assert seen["special_requests"] == "Please chant for good health"
            assert [(o["name"], o["qty"]) for o in seen["offerings"]] == [
                ("Bel Patra", 1),
                ("Panchamrit", 2),
            ]

            # The pandit starts the puja live; the devotee's socket hears it.
            ack = await pandit_socket.call(
                "live:status", {"booking_id": booking, "status": "started"}
            )
            assert ack["ok"], ack
            await eventually(
                lambda: any(
                    e["status"] == "started" for e in devotee_socket.received("live:status")
                )
            )

            # The video report goes to S3 through a presigned URL; the devotee is notified.
            status, upload = await call(
                http,
                "POST",
                f"{hub.url}/api/v1/bookings/{booking}/reports/uploads",
                pandit,
                {
                    "filename": "rudrabhishek.mp4",
                    "content_type": "video/mp4",
                    "size_bytes": len(VIDEO),
                },
            )
            assert status == 201, upload
            assert upload["url"].startswith(s3_server.endpoint_url)
            async with http.put(upload["url"], data=VIDEO, headers=upload["headers"]) as resp:
                assert resp.status == 200, await resp.text()
            status, report = await call(
                http,
                "POST",
                f"{hub.url}/api/v1/bookings/{booking}/reports/complete",
                pandit,
                {"upload_id": upload["upload_id"]},
            )
            assert status == 200 and report["content_type"] == "video/mp4", report

            def report_notified() -> bool:
                return any(
                    n["type"] == "puja_report_ready"
                    for n in devotee_socket.received("notification")
                )

            await eventually(report_notified)

            # The pandit completes it; the earnings are booked minus 10 %, once.
            ack = await pandit_socket.call(
                "live:status", {"booking_id": booking, "status": "completed"}
            )
            assert ack["ok"], ack
            await eventually(
                lambda: any(
                    e["status"] == "completed" for e in devotee_socket.received("live:status")
                )
            )
            gross = 3 * PUJA_PRICE
            earnings: dict[str, Any] = {}
            for _ in range(100):
                status, earnings = await call(
                    http, "GET", f"{hub.url}/api/v1/staff/earnings", pandit
                )
                if earnings.get("bookings"):
                    break
                await asyncio.sleep(0.1)
            assert status == 200, earnings
            assert earnings["commission_bp"] == 1000
            assert earnings["balance_paise"] == gross - gross // 10 == 297_000
            [entry] = earnings["entries"]
            assert entry["booking_id"] == booking
            assert (entry["gross_paise"], entry["commission_paise"], entry["net_paise"]) == (
                330_000,
                33_000,
                297_000,
            )
            # Pushing "completed" again books nothing twice.
            again = await pandit_socket.call(
                "live:status", {"booking_id": booking, "status": "completed"}
            )
            assert again["ok"] and again["data"]["changed"] is False
    finally:
        await devotee_socket.close()
        await pandit_socket.close()
    async with db.acquire() as conn:
        credited = await conn.fetchval(
            "SELECT count(*) FROM ledger_transfers WHERE id LIKE $1", f"earnings:{booking}:%"
        )
    assert credited == 2  # the pandit's net and the platform's commission
