"""Booking reports through a real hub and a real S3 API (moto's server): presigned uploads
with real HTTP PUTs, completion checked against the stored object, the devotees' notification
on their sockets, presigned downloads, and the admin's bulk upload of PDFs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import S3Server, hub_settings, start_hub
from tests.support import (
    Hub,
    World,
    admin_token,
    bearer,
    confirmed_booking,
    connect,
    create_database,
    eventually,
    make_user,
    make_world,
    staff_token,
    token_for,
    user_token,
)

PDF = b"%PDF-1.4\n" + os.urandom(2048) + b"\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(4096) + b"\xff\xd9"


@pytest.fixture(scope="module")
async def files_db(migrated_dsn: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    # A database of its own: another hub's feed relay on the session database would publish
    # this hub's notifications to its own sockets only.
    dsn = await create_database(migrated_dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5)
    yield dsn, pool
    await pool.close()


@pytest.fixture(scope="module")
async def files_hub(
    files_db: tuple[str, asyncpg.Pool], ray_session: None, s3_server: S3Server
) -> AsyncIterator[Hub]:
    bucket = await s3_server.create_bucket()
    handle, runner = await start_hub(
        hub_settings(**s3_server.settings(bucket), files_download_expiry_secs=120), files_db[0]
    )
    yield handle
    await runner.cleanup()


@pytest.fixture
def db(files_db: tuple[str, asyncpg.Pool]) -> asyncpg.Pool:
    return files_db[1]


async def _assign(hub: Hub, db: asyncpg.Pool, world: World, booking: str) -> None:
    async with aiohttp.ClientSession(headers=bearer(await admin_token(hub, db, world))) as http:
        resp = await http.put(
            f"{hub.url}/api/v1/bookings/{booking}/assignee",
            json={"staff_user_id": str(world.staff_id)},
        )
        assert resp.status == 200, await resp.text()


async def _post(
    http: aiohttp.ClientSession, url: str, token: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(url, json=body, headers=bearer(token)) as resp:
        return resp.status, await resp.json()


async def _put_object(http: aiohttp.ClientSession, upload: dict[str, Any], data: bytes) -> None:
    assert upload["method"] == "PUT"
    async with http.put(upload["url"], data=data, headers=upload["headers"]) as resp:
        assert resp.status == 200, await resp.text()


async def _request_upload(
    http: aiohttp.ClientSession,
    hub: Hub,
    token: str,
    booking: str,
    *,
    filename: str = "puja.jpg",
    content_type: str = "image/jpeg",
    size_bytes: int = len(JPEG),
) -> tuple[int, dict[str, Any]]:
    return await _post(
        http,
        f"{hub.url}/api/v1/bookings/{booking}/reports/uploads",
        token,
        {"filename": filename, "content_type": content_type, "size_bytes": size_bytes},
    )


async def _complete(
    http: aiohttp.ClientSession, hub: Hub, token: str, booking: str, upload_id: str
) -> tuple[int, dict[str, Any]]:
    return await _post(
        http,
        f"{hub.url}/api/v1/bookings/{booking}/reports/complete",
        token,
        {"upload_id": upload_id},
    )


async def _reports_seen_by(
    http: aiohttp.ClientSession, hub: Hub, token: str, booking: str
) -> tuple[int, dict[str, Any]]:
    async with http.get(
        f"{hub.url}/api/v1/bookings/{booking}/reports", headers=bearer(token)
    ) as resp:
        return resp.status, await resp.json()


async def _report_notifications(db: asyncpg.Pool, booking: str) -> list[asyncpg.Record]:
    async with db.acquire() as conn:
        return await conn.fetch(
            "SELECT user_id FROM notifications WHERE type = 'puja_report_ready' "
            "AND data->>'booking_id' = $1",
            booking,
        )


async def test_staff_upload_reaches_the_devotee_socket_and_the_owner_downloads_the_bytes(
    files_hub: Hub, db: asyncpg.Pool
):
    hub = files_hub
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    await _assign(hub, db, world, booking)
    devotee = await connect(hub, user_token(hub, world))
    try:
        async with aiohttp.ClientSession() as http:
            status, upload = await _request_upload(
                http, hub, staff_token(hub, world), booking, filename="Aarti photo (1).jpg"
            )
            assert status == 201, upload
            assert upload["key"] == (
                f"tenants/{world.tenant_id}/bookings/{booking}/reports/"
                f"{upload['upload_id']}/Aarti_photo_1.jpg"
            )
            assert upload["headers"] == {"Content-Type": "image/jpeg"}
            await _put_object(http, upload, JPEG)

            status, report = await _complete(
                http, hub, staff_token(hub, world), booking, upload["upload_id"]
            )
            assert status == 200, report
            assert report["created"] is True and report["size_bytes"] == len(JPEG)

            await eventually(lambda: bool(devotee.received("notification")))
            (note,) = devotee.received("notification")
            assert note["type"] == "puja_report_ready"
            assert note["data"]["booking_id"] == booking
            assert note["data"]["report_id"] == report["report_id"]

            status, listed = await _reports_seen_by(http, hub, user_token(hub, world), booking)
            assert status == 200, listed
            (item,) = listed["reports"]
            assert item["report_id"] == report["report_id"]
            assert item["filename"] == "Aarti photo (1).jpg"
            assert item["content_type"] == "image/jpeg"
            assert item["size_bytes"] == len(JPEG)
            async with http.get(item["download_url"]) as resp:
                assert resp.status == 200
                assert await resp.read() == JPEG
    finally:
        await devotee.close()


async def test_a_disallowed_type_or_an_oversized_file_is_refused(files_hub: Hub, db: asyncpg.Pool):
    hub = files_hub
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    await _assign(hub, db, world, booking)
    staff = staff_token(hub, world)
    async with aiohttp.ClientSession() as http:
        status, body = await _request_upload(
            http, hub, staff, booking, filename="x.html", content_type="text/html"
        )
        assert status == 422, body
        assert body["error"]["code"] == "invalid"
        assert body["error"]["details"]["reason"] == "content_type_not_allowed"

        status, body = await _request_upload(
            http,
            hub,
            staff,
            booking,
            filename="aarti.mp4",
            content_type="video/mp4",
            size_bytes=500 * 1024 * 1024 + 1,
        )
        assert status == 422, body
        assert body["error"]["details"]["reason"] == "too_large"
        assert body["error"]["details"]["max_bytes"] == 500 * 1024 * 1024

        # Declared small, uploaded larger: the HEAD at completion refuses it, nothing recorded.
        status, upload = await _request_upload(http, hub, staff, booking, size_bytes=100)
        assert status == 201, upload
        await _put_object(http, upload, JPEG)
        status, body = await _complete(http, hub, staff, booking, upload["upload_id"])
        assert status == 422, body
        assert body["error"]["details"]["reason"] == "size_mismatch"

        status, listed = await _reports_seen_by(http, hub, staff, booking)
        assert status == 200 and listed["reports"] == []
    assert await _report_notifications(db, booking) == []


async def test_completing_before_the_upload_is_a_conflict(files_hub: Hub, db: asyncpg.Pool):
    hub = files_hub
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    await _assign(hub, db, world, booking)
    staff = staff_token(hub, world)
    async with aiohttp.ClientSession() as http:
        status, upload = await _request_upload(http, hub, staff, booking)
        assert status == 201, upload
        status, body = await _complete(http, hub, staff, booking, upload["upload_id"])
        assert status == 409, body
        assert body["error"]["code"] == "conflict"
        assert body["error"]["details"]["reason"] == "not_uploaded"

        await _put_object(http, upload, JPEG)
        status, body = await _complete(http, hub, staff, booking, upload["upload_id"])
        assert status == 200 and body["created"], body


async def test_completing_twice_records_one_report_and_notifies_once(
    files_hub: Hub, db: asyncpg.Pool
):
    hub = files_hub
    world = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    await _assign(hub, db, world, booking)
    staff = staff_token(hub, world)
    devotee = await connect(hub, user_token(hub, world))
    try:
        async with aiohttp.ClientSession() as http:
            status, upload = await _request_upload(
                http,
                hub,
                staff,
                booking,
                filename="report.pdf",
                content_type="application/pdf",
                size_bytes=len(PDF),
            )
            assert status == 201, upload
            await _put_object(http, upload, PDF)
            first, second, third = await asyncio.gather(
                *(_complete(http, hub, staff, booking, upload["upload_id"]) for _ in range(3))
            )
            answers = [first, second, third]
            assert all(s == 200 for s, _ in answers), answers
            assert len({b["report_id"] for _, b in answers}) == 1
            assert sorted(b["created"] for _, b in answers) == [False, False, True]
            status, again = await _complete(http, hub, staff, booking, upload["upload_id"])
            assert status == 200 and again["created"] is False
            assert again["report_id"] == first[1]["report_id"]

            status, listed = await _reports_seen_by(http, hub, user_token(hub, world), booking)
            assert len(listed["reports"]) == 1

        await eventually(lambda: bool(devotee.received("notification")))
        await asyncio.sleep(0.5)  # a second notification would have arrived by now
        assert [n["type"] for n in devotee.received("notification")] == ["puja_report_ready"]
        assert len(await _report_notifications(db, booking)) == 1
    finally:
        await devotee.close()


async def test_strangers_get_not_found_and_unassigned_staff_are_forbidden(
    files_hub: Hub, db: asyncpg.Pool
):
    hub = files_hub
    world = await make_world(db, users=2)
    elsewhere = await make_world(db)
    booking = await confirmed_booking(hub, db, world)
    await _assign(hub, db, world, booking)
    staff = staff_token(hub, world)
    other_staff = await make_user(db, tenant_id=world.tenant_id, role="staff")
    async with aiohttp.ClientSession() as http:
        status, upload = await _request_upload(http, hub, staff, booking)
        await _put_object(http, upload, JPEG)
        status, _ = await _complete(http, hub, staff, booking, upload["upload_id"])
        assert status == 200

        for token in (
            user_token(hub, world, 1),  # same tenant, not on the booking
            user_token(hub, elsewhere),  # another tenant's devotee
            staff_token(hub, elsewhere),  # another tenant's staff
        ):
            status, body = await _reports_seen_by(http, hub, token, booking)
            assert status == 404, body
            assert body["error"]["code"] == "not_found"
            assert "download_url" not in str(body)
        status, body = await _request_upload(http, hub, staff_token(hub, elsewhere), booking)
        assert status == 404, body

        # The tenant's staff may read; only the assigned one (or an admin) may upload.
        status, listed = await _reports_seen_by(
            http, hub, token_for(hub, other_staff, world.tenant_id, "staff"), booking
        )
        assert status == 200 and len(listed["reports"]) == 1
        status, body = await _request_upload(
            http, hub, token_for(hub, other_staff, world.tenant_id, "staff"), booking
        )
        assert status == 403, body
        status, body = await _request_upload(http, hub, user_token(hub, world), booking)
        assert status == 403, body


async def test_bulk_upload_of_three_pdfs_with_one_missing_completes_two(
    files_hub: Hub, db: asyncpg.Pool
):
    hub = files_hub
    world = await make_world(db, users=3)
    bookings = [await confirmed_booking(hub, db, world, index) for index in range(3)]
    admin = await admin_token(hub, db, world)
    base = f"{hub.url}/api/v1/tenants/{world.tenant_id}/reports"
    async with aiohttp.ClientSession() as http:
        status, body = await _post(
            http,
            f"{base}/bulk-uploads",
            staff_token(hub, world),
            {"items": [{"booking_id": bookings[0], "filename": "a.pdf", "size_bytes": 10}]},
        )
        assert status == 403, body

        status, body = await _post(
            http,
            f"{base}/bulk-uploads",
            admin,
            {
                "items": [
                    {"booking_id": b, "filename": f"kundli-{i}.pdf", "size_bytes": len(PDF)}
                    for i, b in enumerate(bookings)
                ]
            },
        )
        assert status == 201, body
        uploads = body["uploads"]
        assert [u["booking_id"] for u in uploads] == bookings
        assert all(u["headers"] == {"Content-Type": "application/pdf"} for u in uploads)
        await _put_object(http, uploads[0], PDF)
        await _put_object(http, uploads[2], PDF)

        ids = [u["upload_id"] for u in uploads]
        status, body = await _post(http, f"{base}/bulk-complete", admin, {"upload_ids": ids})
        assert status == 200, body
        assert [r["status"] for r in body["results"]] == [
            "completed",
            "not_uploaded",
            "completed",
        ]
        assert (body["completed"], body["not_uploaded"], body["invalid"]) == (2, 1, 0)

        # Sent again: the same two, nothing recorded or notified twice.
        status, again = await _post(http, f"{base}/bulk-complete", admin, {"upload_ids": ids})
        assert [r.get("report_id") for r in again["results"]] == [
            r.get("report_id") for r in body["results"]
        ]

        for index, booking in enumerate(bookings):
            status, listed = await _reports_seen_by(
                http, hub, user_token(hub, world, index), booking
            )
            assert status == 200
            assert len(listed["reports"]) == (0 if index == 1 else 1)
        async with http.get(listed["reports"][0]["download_url"]) as resp:
            assert await resp.read() == PDF

    async def notified() -> list[int]:
        return [len(await _report_notifications(db, b)) for b in bookings]

    deadline = asyncio.get_running_loop().time() + 10
    while await notified() != [1, 0, 1]:
        assert asyncio.get_running_loop().time() < deadline, await notified()
        await asyncio.sleep(0.05)
    assert [r["user_id"] for r in await _report_notifications(db, bookings[2])] == [
        world.user_ids[2]
    ]


async def test_the_embedded_default_stores_files_locally_behind_signed_hub_urls(
    files_db: tuple[str, asyncpg.Pool], ray_session: None, tmp_path: Path
):
    dsn, db = files_db
    hub, runner = await start_hub(hub_settings(files_dir=tmp_path), dsn)
    try:
        world = await make_world(db)
        booking = await confirmed_booking(hub, db, world)
        await _assign(hub, db, world, booking)
        staff = staff_token(hub, world)
        async with aiohttp.ClientSession() as http:
            status, upload = await _request_upload(http, hub, staff, booking)
            assert status == 201, upload
            # Settings say port 0 (tests); the URL's path and query are what the hub checks.
            path = upload["url"].split("/api/v1/files/", 1)[1]
            url = f"{hub.url}/api/v1/files/{path}"
            async with http.put(url, data=JPEG + b"x", headers=upload["headers"]) as resp:
                assert resp.status == 413, await resp.text()
            async with http.put(url + "0", data=JPEG, headers=upload["headers"]) as resp:
                assert resp.status == 403
            async with http.put(url, data=JPEG, headers={"Content-Type": "image/png"}) as resp:
                assert resp.status == 403
            async with http.put(url, data=JPEG, headers=upload["headers"]) as resp:
                assert resp.status == 200, await resp.text()
            status, report = await _complete(http, hub, staff, booking, upload["upload_id"])
            assert status == 200 and report["created"], report

            status, listed = await _reports_seen_by(http, hub, user_token(hub, world), booking)
            (item,) = listed["reports"]
            path = item["download_url"].split("/api/v1/files/", 1)[1]
            async with http.get(f"{hub.url}/api/v1/files/{path}") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "image/jpeg"
                assert await resp.read() == JPEG
            async with http.get(
                f"{hub.url}/api/v1/files/{path}".replace("expires=", "expires=9")
            ) as resp:
                assert resp.status == 403
        assert (tmp_path / "objects" / upload["key"]).read_bytes() == JPEG
    finally:
        await runner.cleanup()
