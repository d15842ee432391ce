"""The live web board (``/``, hub/web/) end to end in headless Debian chromium.

``tests/browser/board_check.mjs`` (playwright-core) drives three pages against this test's hub:
two devotees and a staff member log in through the form; a hold made on one page shows on the
other within a second; releasing restores it; a page that lost its connection while a place
was held resumes with ``since`` and gets that delta replayed; the staff page pushes live
status and the
devotee's page shows it (and its ``puja_started`` notification); a backwards push shows the
hub's error. The screenshot is kept in ``tests/artifacts/web-board.png``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp
import asyncpg

from hub import keys, web_board
from tests.node_support import (
    ARTIFACTS_DIR,
    BROWSER_DIR,
    chromium_path,
    ensure_npm_packages,
    json_lines,
    run_node,
    step,
)
from tests.support import (
    Hub,
    World,
    admin_token,
    bearer,
    confirmed_booking,
    connect,
    hold_status,
    make_world,
    subscribe,
    user_token,
)

CAPACITY = 5
PASSWORD = "board-test-password-1"
VISIBLE_WITHIN_MS = 1000
BROWSER_TIMEOUT_SECS = 120


async def _with_passwords(hub: Hub, db: asyncpg.Pool, world: World) -> dict[str, dict[str, str]]:
    """Give the world's two devotees and its staff member a password; their logins."""
    password_hash = hub.app[keys.PASSWORDS].hash(PASSWORD)
    people = {"devotee_a": world.user_ids[0], "devotee_b": world.user_ids[1]}
    people["staff"] = world.staff_id
    logins = {}
    async with db.acquire() as conn:
        for name, user_id in people.items():
            email = await conn.fetchval(
                "UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING email",
                password_hash,
                user_id,
            )
            logins[name] = {"email": email, "password": PASSWORD}
    return logins


async def test_board_files_are_served_with_cache_headers_and_nothing_else(hub: Hub) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{hub.url}/") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert resp.headers["Cache-Control"] == "no-cache"
            assert '<script type="module" src="/board/board.js">' in await resp.text()
        async with http.get(f"{hub.url}/board/board.js") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/javascript"
            etag = resp.headers["ETag"]
        async with http.get(f"{hub.url}/board/board.js", headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304  # unchanged: revalidated, not downloaded again
        async with http.get(f"{hub.url}/board/vendor/socket.io.esm.min.js") as resp:
            assert resp.status == 200, "run python3 deploy/scripts/vendor_board.py"
            assert resp.headers["Cache-Control"] == "public, max-age=3600"
            assert "Socket.IO v4.8.1" in (await resp.text())[:200]
        for path in ("/board/../settings.py", "/board/vendor.json", "/board/vendor/.integrity"):
            async with http.get(f"{hub.url}{path}") as resp:
                assert resp.status == 404, path
                assert (await resp.json())["error"]["code"] == "not_found"
        # The board does not shadow the API or the probes.
        async with http.get(f"{hub.url}/healthz") as resp:
            assert (await resp.json()) == {"status": "ok"}
        async with http.get(f"{hub.url}/api/v1/me") as resp:
            assert resp.status == 401


async def test_a_missing_vendored_library_is_a_clear_404(hub: Hub, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(web_board, "VENDOR_DIR", tmp_path)  # an empty vendor directory
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{hub.url}/board/vendor/socket.io.esm.min.js") as resp,
    ):
        assert resp.status == 404
        error = (await resp.json())["error"]
    assert error["code"] == "not_found"
    assert error["details"]["command"] == "python3 deploy/scripts/vendor_board.py"


async def test_two_pages_see_holds_within_a_second_and_staff_live_status(
    hub: Hub, db: asyncpg.Pool
) -> None:
    chromium = chromium_path()
    ensure_npm_packages(BROWSER_DIR, "playwright-core")
    world = await make_world(db, capacity=CAPACITY, slots=2, users=2)
    logins = await _with_passwords(hub, db, world)
    booking_id = await confirmed_booking(hub, db, world, index=1)  # devotee B's, slot 0
    async with (
        aiohttp.ClientSession() as http,
        http.put(
            f"{hub.url}/api/v1/bookings/{booking_id}/assignee",
            json={"staff_user_id": str(world.staff_id)},
            headers=bearer(await admin_token(hub, db, world)),
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()

    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS_DIR / "web-board.png"
    screenshot.unlink(missing_ok=True)
    config: dict[str, Any] = {
        "url": f"{hub.url}/",
        "chromium": chromium,
        "screenshot": str(screenshot),
        "resource_id": str(world.resource_id),
        "date": world.date,
        "slot_id": str(world.slot_ids[1]),
        "capacity": CAPACITY,
        "booking_id": booking_id,
        **logins,
    }
    config_path = ARTIFACTS_DIR / f"board-config-{uuid.uuid4().hex[:8]}.json"
    config_path.write_text(json.dumps(config))
    # Baseline in the same run: a Python Socket.IO subscriber of the same stream, stamping
    # each delta's arrival with the wall clock the Node script also uses.
    python_seen: list[tuple[float, dict[str, Any]]] = []
    baseline = await connect(hub, user_token(hub, world, 0))

    async def _stamp(delta: dict[str, Any]) -> None:
        python_seen.append((time.time(), delta))

    baseline.sio.on("availability", _stamp)
    await subscribe(baseline, world)
    try:
        code, out, err = await run_node(
            BROWSER_DIR / "board_check.mjs",
            str(config_path),
            cwd=BROWSER_DIR,
            timeout_secs=BROWSER_TIMEOUT_SECS,
        )
    finally:
        config_path.unlink(missing_ok=True)
        await baseline.close()
    lines = json_lines(out)
    assert code == 0, f"board check failed ({code}):\n{out[-4000:]}\n{err[-2000:]}"

    logged_in = step(lines, "logged_in")
    assert logged_in["roles"] == ["user", "user", "staff"]
    assert logged_in["staff_panel"] is True and logged_in["devotee_staff_panel"] is False
    assert step(lines, "slots_shown")["slots"] == 2

    held = step(lines, "hold_seen_by_other_page")
    assert held["ms"] < VISIBLE_WITHIN_MS, held
    python_at = next(
        at
        for at, delta in python_seen
        if delta["slots"] == [{"slot_id": config["slot_id"], "available": CAPACITY - 1}]
    )
    python_ms = max(1.0, python_at * 1000 - held["clicked_at_ms"])
    released = step(lines, "release_seen_by_other_page")
    assert released["ms"] < VISIBLE_WITHIN_MS, released
    assert await hold_status(db, held["hold_id"]) == "released"

    recovered = step(lines, "recovered_after_disconnect")
    assert recovered["replayed"] == 1, recovered  # A's hold, made while B was offline
    assert recovered["seq_after"] == recovered["seq_before"] + 1, recovered

    live = step(lines, "live_status_seen_by_devotee")
    assert live["booking_id"] == booking_id and live["ms"] < VISIBLE_WITHIN_MS, live
    async with db.acquire() as conn:
        status = await conn.fetchval(
            "SELECT live_status FROM holds WHERE id = $1", uuid.UUID(booking_id)
        )
    assert status == "started"

    refused = step(lines, "backwards_push_refused")
    assert refused["code"] == "conflict", refused
    assert "puja_started" in step(lines, "notification_shown")["types"]
    assert "deploy/scripts/vendor_board.py" in step(lines, "missing_vendor_explained")["banner"]

    done = step(lines, "done")
    assert done["ok"] is True, done["page_errors"]
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    print(
        f"\nweb board: hold seen on the other page in {held['ms']} ms (a Python subscriber of "
        f"the same stream: {python_ms:.0f} ms, ratio {held['ms'] / python_ms:.2f}), release in "
        f"{released['ms']} ms, live status in {live['ms']} ms; screenshot {screenshot}"
    )
