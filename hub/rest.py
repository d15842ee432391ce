"""REST fallback under ``/api/v1`` plus ``/healthz`` and ``/readyz`` (see README.md)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub import keys
from hub.auth import Principal
from hub.fanout import load_snapshot
from protocols.auth import LoginRequest, TokenResponse
from protocols.errors import Invalid, NotFound, Unauthorized, Unavailable
from protocols.holds import CreateHold, CreateHoldBody
from protocols.wire import parse_iso_date, validation_details
from storage import demo, users

routes = web.RouteTableDef()


def _principal(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <access token>'")
    return request.app[keys.TOKENS].verify(token.strip())


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(reason="body is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise Invalid("body must be a JSON object")
    return model.model_validate(raw)


def _uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError as exc:
        raise Invalid(f"{name} is not a UUID", {"loc": ["path", name]}) from exc


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, Any] = {}
    ready = True
    started = time.perf_counter()
    try:
        async with request.app[keys.DB].acquire(timeout=2.0) as conn:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), 2.0)
        checks["postgres"] = {"ok": True, "latency_ms": _ms(started)}
    except Exception as exc:
        ready = False
        checks["postgres"] = {"ok": False, "error": type(exc).__name__}
    try:
        seconds = await request.app[keys.SHARDS].ping()
        checks["ray"] = {"ok": True, "latency_ms": round(seconds * 1000, 2)}
    except Unavailable:
        ready = False
        checks["ray"] = {"ok": False, "error": "shards not answering"}
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return web.json_response(body, status=200 if ready else 503)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    body: LoginRequest = await _body(request, LoginRequest)
    async with request.app[keys.DB].acquire() as conn:
        user = await users.find_user_by_email(conn, email=body.email)
    passwords = request.app[keys.PASSWORDS]
    ok = await passwords.verify(user.password_hash if user else None, body.password)
    if user is None or not ok:
        raise Unauthorized("email or password is wrong")
    tokens = request.app[keys.TOKENS]
    token = tokens.issue(user_id=user.user_id, tenant_id=user.tenant_id, role=user.role)
    return _json(TokenResponse(access_token=token, expires_in=tokens.ttl_secs))


@routes.get("/api/v1/tenants/{tenant_id}/resources/{resource_id}/availability")
async def availability(request: web.Request) -> web.Response:
    principal = _principal(request)
    tenant_id, resource_id = _uuid(request, "tenant_id"), _uuid(request, "resource_id")
    raw_date = request.query.get("date", "")
    try:
        if len(raw_date) != 10:
            raise ValueError
        day = parse_iso_date(raw_date)
    except ValueError as exc:
        raise Invalid("date must be YYYY-MM-DD", {"loc": ["query", "date"]}) from exc
    snap = await load_snapshot(request.app[keys.DB], principal, tenant_id, resource_id, day)
    return _json(snap)


@routes.post("/api/v1/holds")
async def create_hold(request: web.Request) -> web.Response:
    principal = _principal(request)
    body: CreateHoldBody = await _body(request, CreateHoldBody)
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None and body.idempotency_key not in (None, header_key):
        raise Invalid("Idempotency-Key header and body idempotency_key differ")
    key = body.idempotency_key or header_key
    if key is None:
        raise Invalid("an idempotency key is required (Idempotency-Key header or body)")
    try:
        command = CreateHold(slot_id=body.slot_id, qty=body.qty, idempotency_key=key)
    except ValidationError as exc:
        raise Invalid("Idempotency-Key is not valid", validation_details(exc)) from exc
    hold = await request.app[keys.HOLDS].create(principal, command)
    return _json(hold, status=201)


@routes.delete("/api/v1/holds/{hold_id}")
async def release_hold(request: web.Request) -> web.Response:
    principal = _principal(request)
    hold = await request.app[keys.HOLDS].release(principal, _uuid(request, "hold_id"))
    return _json(hold)


@routes.get("/api/v1/demo")
async def demo_data(request: web.Request) -> web.Response:
    if not request.app[keys.SETTINGS].demo:
        raise NotFound("demo data is only served by 'seva serve --demo'")
    async with request.app[keys.DB].acquire() as conn:
        return web.json_response(await demo.describe_demo(conn))
