"""Padel over REST: split payments of a court hold, and open matches."""

from __future__ import annotations

from aiohttp import web

from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.padel import OPEN_MATCHES, SPLITS
from hub.restkit import json_body, path_uuid
from protocols.padel import (
    CreateSplit,
    JoinedMatchView,
    JoinMatch,
    OpenMatch,
    OpenMatchList,
    OpenMatchView,
    PayShare,
    SharePaid,
    SplitView,
)
from protocols.permissions import Perm

routes = web.RouteTableDef()


@routes.post("/api/v1/holds/{hold_id}/split")
@api("Create split", tags="padel", body=CreateSplit, response=SplitView, status=201, also=(200,))
@requires(Perm.BOOKINGS_CREATE)
async def create_split(request: web.Request) -> web.Response:
    body = await json_body(request, CreateSplit)
    view, made = await request.app[SPLITS].create(
        principal_of(request), path_uuid(request, "hold_id"), body
    )
    return web.json_response(view, status=201 if made else 200)


@routes.get("/api/v1/holds/{hold_id}/split")
@api("Get split", tags="padel", response=SplitView)
@requires(Perm.BOOKINGS_READ_OWN)
async def get_split(request: web.Request) -> web.Response:
    view = await request.app[SPLITS].view(principal_of(request), path_uuid(request, "hold_id"))
    return web.json_response(view)


@routes.post("/api/v1/holds/{hold_id}/split/pay")
@api("Pay share", tags="padel", body=PayShare, response=SharePaid)
@requires(Perm.BOOKINGS_CREATE)
async def pay_share(request: web.Request) -> web.Response:
    body = await json_body(request, PayShare)
    result = await request.app[SPLITS].pay(
        principal_of(request), path_uuid(request, "hold_id"), body
    )
    return web.json_response(result)


@routes.post("/api/v1/bookings/{booking_id}/open-match")
@api(
    "Open match",
    tags="padel",
    body=OpenMatch,
    response=OpenMatchView,
    status=201,
    also=(200,),
)
@requires(Perm.BOOKINGS_CREATE)
async def open_match(request: web.Request) -> web.Response:
    body = await json_body(request, OpenMatch)
    match, made = await request.app[OPEN_MATCHES].open(
        principal_of(request), path_uuid(request, "booking_id"), body
    )
    return web.json_response(match, status=201 if made else 200)


@routes.get("/api/v1/open-matches")
@api("List open matches", tags="padel", query={"date": "date"}, response=OpenMatchList)
@requires(Perm.AVAILABILITY_READ)
async def list_open_matches(request: web.Request) -> web.Response:
    result = await request.app[OPEN_MATCHES].list(principal_of(request), request.query.get("date"))
    return web.json_response(result)


@routes.post("/api/v1/open-matches/{match_id}/join")
@api(
    "Join open match",
    tags="padel",
    body=JoinMatch,
    response=JoinedMatchView,
    status=201,
    also=(200,),
)
@requires(Perm.BOOKINGS_CREATE)
async def join_open_match(request: web.Request) -> web.Response:
    body = await json_body(request, JoinMatch)
    match, made = await request.app[OPEN_MATCHES].join(
        principal_of(request), path_uuid(request, "match_id"), body
    )
    return web.json_response(match, status=201 if made else 200)
