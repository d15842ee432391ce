"""REST fallback for availability and holds, plus ``/healthz``, ``/readyz`` and the demo."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from hub import keys
from hub.api_spec import api
from hub.fanout import load_snapshot
from hub.guard import principal_of, requires
from hub.health import check_redis, elapsed_ms
from hub.restkit import json_body, json_response, path_uuid
from protocols.api_responses import (
    DemoData,
    HealthStatus,
    HoldPaidFromWallet,
    ReadinessReport,
)
from protocols.availability import AvailabilitySnapshot
from protocols.errors import Invalid, NotFound, Unavailable
from protocols.holds import CreateHold, CreateHoldBody, HoldView
from protocols.permissions import Perm
from protocols.wire import parse_iso_date, validation_details
from storage import demo

routes = web.RouteTableDef()


@routes.get("/healthz")
@api("Liveness: the process answers", tags="health", response=HealthStatus)
@requires(Perm.PUBLIC)
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
@api(
    "Readiness: PostgreSQL and Ray answer (503 otherwise); Redis reported",
    tags="health",
    response=ReadinessReport,
    status=200,
    also=(503,),
)
@requires(Perm.PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, Any] = {}
    ready = True
    started = time.perf_counter()
    try:
        async with request.app[keys.DB].acquire(timeout=2.0) as conn:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), 2.0)
        checks["postgres"] = {"ok": True, "latency_ms": elapsed_ms(started)}
    except Exception as exc:
        ready = False
        checks["postgres"] = {
            "ok": False,
            "latency_ms": elapsed_ms(started),
            "error": type(exc).__name__,
        }
    started = time.perf_counter()
    try:
        seconds = await request.app[keys.SHARDS].ping()
        checks["ray"] = {"ok": True, "latency_ms": round(seconds * 1000, 2)}
    except Unavailable:
        ready = False
        checks["ray"] = {
            "ok": False,
            "latency_ms": elapsed_ms(started),
            "error": "shards not answering",
        }
    settings = request.app[keys.SETTINGS]
    degraded = False
    if settings.redis_url is not None:  # only when configured (REDIS_URL)
        checks["redis"] = await check_redis(settings.redis_url.get_secret_value())
        if not checks["redis"]["ok"]:
            # Every hub shares one Redis: failing readiness on it would take all of them out
            # of the balancer at once, while holds, payments and REST keep working without it.
            if settings.readyz_require_redis:
                ready = False
            else:
                degraded = True
    status = "not_ready" if not ready else "degraded" if degraded else "ready"
    body = {"status": status, "checks": checks}
    return web.json_response(body, status=200 if ready else 503)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@routes.get("/api/v1/tenants/{tenant_id}/resources/{resource_id}/availability")
@api(
    "Availability snapshot of a resource on a day",
    tags="availability",
    response=AvailabilitySnapshot,
    query={"date": "date!"},
)
@requires(Perm.AVAILABILITY_READ)
async def availability(request: web.Request) -> web.Response:
    tenant_id, resource_id = path_uuid(request, "tenant_id"), path_uuid(request, "resource_id")
    raw_date = request.query.get("date", "")
    try:
        if len(raw_date) != 10:
            raise ValueError
        day = parse_iso_date(raw_date)
    except ValueError as exc:
        raise Invalid("date must be YYYY-MM-DD", {"loc": ["query", "date"]}) from exc
    snap = await load_snapshot(
        request.app[keys.DB], principal_of(request), tenant_id, resource_id, day
    )
    return json_response(snap)


@routes.post("/api/v1/holds")
@api(
    "Hold seats of a slot (REST fallback of hold:create)",
    tags="holds",
    body=CreateHoldBody,
    response=HoldView,
    status=201,
    errors=("conflict", "limit_exceeded", "sold_out"),
    idempotency=True,
)
@requires(Perm.BOOKINGS_CREATE)
async def create_hold(request: web.Request) -> web.Response:
    body = await json_body(request, CreateHoldBody)
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None and body.idempotency_key not in (None, header_key):
        raise Invalid("Idempotency-Key header and body idempotency_key differ")
    key = body.idempotency_key or header_key
    if key is None:
        raise Invalid("an idempotency key is required (Idempotency-Key header or body)")
    try:
        command = CreateHold(
            slot_id=body.slot_id, qty=body.qty, idempotency_key=key, extras=body.extras
        )
    except ValidationError as exc:
        raise Invalid("Idempotency-Key is not valid", validation_details(exc)) from exc
    hold = await request.app[keys.HOLDS].create(principal_of(request), command)
    return json_response(hold, status=201)


@routes.delete("/api/v1/holds/{hold_id}")
@api("Release a hold", tags="holds", response=HoldView, errors=("conflict",))
@requires(Perm.BOOKINGS_CREATE)
async def release_hold(request: web.Request) -> web.Response:
    hold = await request.app[keys.HOLDS].release(
        principal_of(request), path_uuid(request, "hold_id")
    )
    return json_response(hold)


@routes.post("/api/v1/holds/{hold_id}/pay-from-wallet")
@api(
    "Pay a hold from the caller's wallet (confirms the booking)",
    tags="holds",
    errors=("conflict", "insufficient_funds"),
    response=HoldPaidFromWallet,
)
@requires(Perm.BOOKINGS_CREATE)
async def pay_hold_from_wallet(request: web.Request) -> web.Response:
    result = await request.app[keys.HOLD_PAYMENTS].pay_from_wallet(
        principal_of(request), path_uuid(request, "hold_id")
    )
    return web.json_response(result)


@routes.get("/api/v1/demo")
@api("Demo tenants, users and resources (seva serve --demo only)", tags="demo", response=DemoData)
@requires(Perm.PUBLIC)
async def demo_data(request: web.Request) -> web.Response:
    if not request.app[keys.SETTINGS].demo:
        raise NotFound("demo data is only served by 'seva serve --demo'")
    async with request.app[keys.DB].acquire() as conn:
        return web.json_response(await demo.describe_demo(conn))
