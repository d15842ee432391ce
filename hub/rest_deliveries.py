"""Notification channel preferences (per user) and the delivery log with requeue (admins)."""

from __future__ import annotations

from datetime import time
from uuid import UUID

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.deliveries import requeue
from hub.guard import principal_of, requires
from hub.restkit import json_body, query_int
from protocols.errors import Invalid
from protocols.notifications import (
    DeliveriesRequeued,
    DeliveryList,
    PreferencesView,
    RequeueDeliveries,
    SetPreferences,
)
from protocols.permissions import Perm
from storage import deliveries

routes = web.RouteTableDef()

STATUSES = ("queued", "sending", "sent", "failed", "dead", "skipped_insufficient_credits")


@routes.get("/api/v1/me/notification-preferences")
@api("The caller's notification preferences", tags="deliveries", response=PreferencesView)
@requires(Perm.AUTHENTICATED)
async def get_preferences(request: web.Request) -> web.Response:
    async with request.app[keys.DB].acquire() as conn:
        prefs = await deliveries.get_preferences(conn, user_id=principal_of(request).user_id)
    return web.json_response(prefs)


@routes.put("/api/v1/me/notification-preferences")
@api(
    "Set the caller's notification preferences",
    tags="deliveries",
    body=SetPreferences,
    response=PreferencesView,
)
@requires(Perm.AUTHENTICATED)
async def set_preferences(request: web.Request) -> web.Response:
    body = await json_body(request, SetPreferences)
    principal = principal_of(request)
    quiet = None
    if body.quiet_hours is not None:
        quiet = (
            time.fromisoformat(body.quiet_hours.start),
            time.fromisoformat(body.quiet_hours.end),
        )
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        await deliveries.set_preferences(
            conn,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            types={str(k): list(v) for k, v in body.types.items()},
            quiet=quiet,
            clear_quiet=body.clear_quiet_hours,
        )
        prefs = await deliveries.get_preferences(conn, user_id=principal.user_id)
    return web.json_response(prefs)


def _scope(request: web.Request) -> UUID | None:
    """Tenant admins see their tenant; platform operators everything or ``?tenant_id=``."""
    principal = principal_of(request)
    if principal.tenant_id is not None:
        return principal.tenant_id
    raw = request.query.get("tenant_id")
    try:
        return UUID(raw) if raw else None
    except ValueError as exc:
        raise Invalid("tenant_id is not a UUID", {"loc": ["query", "tenant_id"]}) from exc


@routes.get("/api/v1/admin/deliveries")
@api(
    "List deliveries",
    tags="deliveries",
    query={"limit": "integer", "status": "string", "user_id": "uuid", "tenant_id": "uuid"},
    response=DeliveryList,
)
@requires(Perm.DELIVERIES_MANAGE)
async def list_deliveries(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", {"loc": ["query", "status"]})
    user = request.query.get("user_id")
    try:
        user_id = UUID(user) if user else None
    except ValueError as exc:
        raise Invalid("user_id is not a UUID", {"loc": ["query", "user_id"]}) from exc
    async with request.app[keys.DB].acquire() as conn:
        found = await deliveries.listing(
            conn,
            tenant_id=_scope(request),
            status=status,
            user_id=user_id,
            limit=query_int(request, "limit", default=50, low=1, high=500),
        )
    return web.json_response({"deliveries": [d.wire() for d in found]})


@routes.post("/api/v1/admin/deliveries/requeue")
@api(
    "Requeue deliveries",
    tags="deliveries",
    body=RequeueDeliveries,
    query={"tenant_id": "uuid"},
    response=DeliveriesRequeued,
)
@requires(Perm.DELIVERIES_MANAGE)
async def requeue_deliveries(request: web.Request) -> web.Response:
    body = await json_body(request, RequeueDeliveries)
    done = await requeue(
        request.app[keys.DB], ids=body.ids, statuses=(body.status,), tenant_id=_scope(request)
    )
    return web.json_response({"requeued": [str(i) for i in done]})
