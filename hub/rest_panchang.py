"""The panchang and tenants' festival calendars over REST."""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.rest_admin import acting_tenant
from hub.restkit import idempotency_key, json_body, path_uuid
from protocols.festivals import CreateFestival, FestivalList, FestivalView
from protocols.panchang import PanchangDay, PanchangQuery
from protocols.permissions import Perm

routes = web.RouteTableDef()


@routes.get("/api/v1/panchang")
@api("The panchang of a day at a place", tags="panchang", query=PanchangQuery, response=PanchangDay)
@requires(Perm.AUTHENTICATED)
async def get_panchang(request: web.Request) -> web.Response:
    query = PanchangQuery.model_validate(dict(request.query))
    service = request.app[keys.PANCHANG]
    timezone = await service.timezone_for(principal_of(request), query.timezone)
    return web.json_response(await service.day(query.day, query.lat, query.lon, timezone))


@routes.post("/api/v1/festivals")
@api(
    "Create festival",
    tags="panchang",
    body=CreateFestival,
    response=FestivalView,
    status=201,
    also=(200,),
    query={"tenant_id": "uuid"},
    idempotency=True,
)
@requires(Perm.CATALOG_WRITE)
async def create_festival(request: web.Request) -> web.Response:
    body = await json_body(request, CreateFestival)
    principal = principal_of(request)
    key = idempotency_key(request, body.idempotency_key, field="idempotency_key")
    festival, made = await request.app[keys.FESTIVALS].create(
        principal, acting_tenant(request, principal), body, key, audit_context(request)
    )
    return web.json_response(festival, status=201 if made else 200)


@routes.get("/api/v1/tenants/{tenant_id}/festivals")
@api(
    "List festivals",
    tags="panchang",
    query={"from": "date", "to": "date"},
    response=FestivalList,
)
@requires(Perm.AUTHENTICATED)
async def list_festivals(request: web.Request) -> web.Response:
    result = await request.app[keys.FESTIVALS].between(
        principal_of(request),
        path_uuid(request, "tenant_id"),
        request.query.get("from"),
        request.query.get("to"),
    )
    return web.json_response(result)
