"""Reminders of a booking and booking reschedules over REST."""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.astrology import CONSULTATIONS
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.restkit import json_body, path_uuid
from protocols.permissions import Perm
from protocols.reminders import (
    BookingReminders,
    BookingRescheduled,
    PlanReminders,
    RescheduleBooking,
)

routes = web.RouteTableDef()


@routes.post("/api/v1/bookings/{booking_id}/reminders")
@api(
    "Plan reminders",
    tags="reminders",
    body=PlanReminders,
    status=201,
    also=(200,),
    response=BookingReminders,
)
@requires(Perm.REMINDERS_PLAN)
async def plan_reminders(request: web.Request) -> web.Response:
    body = await json_body(request, PlanReminders)
    result, made = await request.app[keys.REMINDERS].plan(
        principal_of(request), path_uuid(request, "booking_id"), body.root, audit_context(request)
    )
    return web.json_response(result, status=201 if made else 200)


@routes.get("/api/v1/bookings/{booking_id}/reminders")
@api("List reminders", tags="reminders", response=BookingReminders)
@requires(Perm.BOOKINGS_READ_OWN)
async def list_reminders(request: web.Request) -> web.Response:
    result = await request.app[keys.REMINDERS].list(
        principal_of(request), path_uuid(request, "booking_id")
    )
    return web.json_response(result)


@routes.post("/api/v1/bookings/{booking_id}/reschedule")
@api("Reschedule booking", tags="reminders", body=RescheduleBooking, response=BookingRescheduled)
@requires(Perm.BOOKINGS_CREATE)
async def reschedule_booking(request: web.Request) -> web.Response:
    body = await json_body(request, RescheduleBooking)
    # Through the consultation service: it applies the tenant's reschedule fee policy.
    result = await request.app[CONSULTATIONS].reschedule(
        principal_of(request), path_uuid(request, "booking_id"), body
    )
    return web.json_response(result)
