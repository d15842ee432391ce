"""Notification inbox, booking staff assignment and stream details over REST."""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.restkit import json_body, path_uuid, query_int
from protocols.api_responses import BookingAssigned, StreamView
from protocols.errors import Invalid
from protocols.live import AssignStaff
from protocols.notifications import (
    ListNotifications,
    NotificationPage,
    NotificationsRead,
    SendSystemNotice,
    SystemNoticeQueued,
)
from protocols.permissions import Perm

routes = web.RouteTableDef()


@routes.get("/api/v1/notifications")
@api(
    "List notifications",
    tags="notifications",
    query={"limit": "integer", "unread_only": "boolean", "cursor": "string"},
    response=NotificationPage,
)
@requires(Perm.AUTHENTICATED)
async def list_notifications(request: web.Request) -> web.Response:
    unread = request.query.get("unread_only", "false").lower()
    if unread not in ("true", "false", "1", "0"):
        raise Invalid("unread_only must be true or false", {"loc": ["query", "unread_only"]})
    query = ListNotifications(
        cursor=request.query.get("cursor") or None,
        limit=query_int(request, "limit", default=20, low=1, high=100),
        unread_only=unread in ("true", "1"),
    )
    page = await request.app[keys.INBOX].page(principal_of(request), query)
    return web.json_response(page)


@routes.put("/api/v1/notifications/read-all")
@api("Mark every notification read", tags="notifications", response=NotificationsRead)
@requires(Perm.AUTHENTICATED)
async def read_all(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.INBOX].read(principal_of(request), None))


@routes.put("/api/v1/notifications/{notification_id}/read")
@api("Mark one notification read", tags="notifications", response=NotificationsRead)
@requires(Perm.AUTHENTICATED)
async def read_one(request: web.Request) -> web.Response:
    note_id = path_uuid(request, "notification_id")
    return web.json_response(await request.app[keys.INBOX].read(principal_of(request), [note_id]))


@routes.post("/api/v1/tenants/{tenant_id}/notifications")
@api(
    "Send system notice",
    tags="notifications",
    body=SendSystemNotice,
    status=202,
    response=SystemNoticeQueued,
)
@requires(Perm.NOTIFICATIONS_SEND)
async def send_system_notice(request: web.Request) -> web.Response:
    body = await json_body(request, SendSystemNotice)
    result = await request.app[keys.INBOX].send_system(
        principal_of(request), path_uuid(request, "tenant_id"), body
    )
    return web.json_response(result, status=202)


@routes.put("/api/v1/bookings/{booking_id}/assignee")
@api(
    "Assign a booking to a staff member",
    tags="notifications",
    body=AssignStaff,
    response=BookingAssigned,
)
@requires(Perm.BOOKINGS_MANAGE)
async def assign_staff(request: web.Request) -> web.Response:
    body = await json_body(request, AssignStaff)
    result = await request.app[keys.LIVE].assign(
        principal_of(request),
        path_uuid(request, "booking_id"),
        body.staff_user_id,
        audit_context(request),
    )
    return web.json_response(result)


@routes.get("/api/v1/streams/{stream_id}")
@api("A live stream session", tags="notifications", response=StreamView)
@requires(Perm.AUTHENTICATED)
async def get_stream(request: web.Request) -> web.Response:
    session = await request.app[keys.STREAMS].describe(
        principal_of(request), path_uuid(request, "stream_id")
    )
    return web.json_response(session)
