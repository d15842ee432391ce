"""The contention bench's baseline: holds the way a plain REST backend makes them.

``POST /holds`` with ``Authorization: Bearer <access JWT>`` and the body of ``hold:create``
(``{"slot_id", "qty", "idempotency_key"}``) runs one PostgreSQL transaction per request on a
connection from an asyncpg pool: lock the slot row (``SELECT ... FOR UPDATE``), check capacity,
insert the hold, bump the slot's counters (:func:`storage.bench.hold_with_row_lock`). It answers
201 ``{"data": {...}}``, or the hub's error body (409 ``sold_out``, 401, 404, 422 ...).
``GET /healthz`` lets a client open its connection before a timed run.

It uses the hub's token format, payload model and error mapping, so the only difference from the
hub is how a hold reaches PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
from aiohttp import web

from hub.auth import TokenIssuer
from hub.errors import error_middleware
from protocols.errors import Forbidden, Invalid, SoldOut, Unauthorized
from protocols.holds import CreateHold
from storage.bench import hold_with_row_lock

POOL = web.AppKey("baseline_pool", asyncpg.Pool)
TOKENS = web.AppKey("baseline_tokens", TokenIssuer)
HOLD_TTL = web.AppKey("baseline_hold_ttl", timedelta)

routes = web.RouteTableDef()


def create_baseline_app(
    *, dsn: str, pool_size: int, tokens: TokenIssuer, hold_ttl: timedelta
) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[TOKENS] = tokens
    app[HOLD_TTL] = hold_ttl
    app.add_routes(routes)

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        # Every connection is opened up front: connecting is not what the bench measures.
        pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        app[POOL] = pool
        try:
            yield
        finally:
            await pool.close()

    app.cleanup_ctx.append(pool_ctx)
    return app


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.post("/holds")
async def create_hold(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthorized("missing bearer token")
    principal = request.app[TOKENS].verify(header.removeprefix("Bearer "))
    if principal.tenant_id is None:
        raise Forbidden("the baseline serves tenant users only")
    try:
        body = await request.json()
    except ValueError as exc:
        raise Invalid("body is not JSON") from exc
    hold = CreateHold.model_validate(body)
    async with request.app[POOL].acquire() as conn:
        held = await hold_with_row_lock(
            conn,
            tenant_id=principal.tenant_id,
            slot_id=hold.slot_id,
            user_id=principal.user_id,
            qty=hold.qty,
            idempotency_key=hold.idempotency_key,
            ttl=request.app[HOLD_TTL],
        )
    if not held:
        raise SoldOut("not enough places left in this slot", {"slot_id": str(hold.slot_id)})
    return web.json_response(
        {"data": {"slot_id": str(hold.slot_id), "qty": hold.qty, "status": "held"}}, status=201
    )
