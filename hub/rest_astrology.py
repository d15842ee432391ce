"""Astrology (consultations) over REST: consultation settings, a booking's meeting room,
report products and orders, remedies. The services live in ``hub/astrology.py``'s context."""

from __future__ import annotations

from aiohttp import web

from hub.api_spec import api
from hub.astrology import CONSULTATIONS, REMEDIES, REPORT_ORDERS
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.rest_admin import acting_tenant
from hub.restkit import json_body, path_uuid, query_int
from protocols.consultations import ConsultationSettings, ConsultationSettingsView
from protocols.meetings import MeetingView
from protocols.permissions import Perm
from protocols.remedies import (
    AssignedRemedy,
    AssignRemedy,
    CompletedRemedy,
    CompleteRemedy,
    RemedyList,
)
from protocols.report_orders import (
    CompleteOrderUpload,
    CreateReportOrder,
    DeliveredOrder,
    PutReportProduct,
    ReportOrderDetail,
    ReportOrderList,
    ReportOrderView,
    ReportProductList,
    ReportProductView,
    RequestOrderUpload,
)
from protocols.reports import ReportUploadTicket

routes = web.RouteTableDef()

MAX_LIST = 200


@routes.get("/api/v1/consultation-settings")
@api(
    "The tenant's consultation settings",
    tags="astrology",
    query={"tenant_id": "uuid"},
    response=ConsultationSettingsView,
)
@requires(Perm.CATALOG_READ)
async def get_settings(request: web.Request) -> web.Response:
    principal = principal_of(request)
    result = await request.app[CONSULTATIONS].get_settings(
        principal, acting_tenant(request, principal)
    )
    return web.json_response(result)


@routes.put("/api/v1/consultation-settings")
@api(
    "Set the tenant's consultation settings",
    tags="astrology",
    body=ConsultationSettings,
    query={"tenant_id": "uuid"},
    response=ConsultationSettingsView,
)
@requires(Perm.CATALOG_WRITE)
async def put_settings(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await json_body(request, ConsultationSettings)
    result = await request.app[CONSULTATIONS].put_settings(
        principal, acting_tenant(request, principal), body
    )
    return web.json_response(result)


@routes.get("/api/v1/bookings/{booking_id}/meeting")
@api("A consultation booking's meeting room", tags="astrology", response=MeetingView)
@requires(Perm.BOOKINGS_READ_OWN)
async def get_meeting(request: web.Request) -> web.Response:
    result = await request.app[CONSULTATIONS].meeting(
        principal_of(request), path_uuid(request, "booking_id")
    )
    return web.json_response(result)


@routes.put("/api/v1/report-products/{product_id}")
@api(
    "Create or update a report product",
    tags="astrology",
    body=PutReportProduct,
    response=ReportProductView,
    status=201,
    also=(200,),
    query={"tenant_id": "uuid"},
)
@requires(Perm.CATALOG_WRITE)
async def put_product(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await json_body(request, PutReportProduct)
    result, created = await request.app[REPORT_ORDERS].put_product(
        acting_tenant(request, principal),
        path_uuid(request, "product_id"),
        body,
        audit_context(request),
    )
    return web.json_response(result, status=201 if created else 200)


@routes.get("/api/v1/report-products")
@api("List products", tags="astrology", query={"tenant_id": "uuid"}, response=ReportProductList)
@requires(Perm.CATALOG_READ)
async def list_products(request: web.Request) -> web.Response:
    principal = principal_of(request)
    result = await request.app[REPORT_ORDERS].list_products(acting_tenant(request, principal))
    return web.json_response(result)


@routes.post("/api/v1/report-orders")
@api(
    "Create order",
    tags="astrology",
    body=CreateReportOrder,
    response=ReportOrderView,
    status=201,
    also=(200,),
)
@requires(Perm.BOOKINGS_CREATE)
async def create_order(request: web.Request) -> web.Response:
    body = await json_body(request, CreateReportOrder)
    result, made = await request.app[REPORT_ORDERS].order(principal_of(request), body)
    return web.json_response(result, status=201 if made else 200)


@routes.get("/api/v1/report-orders")
@api("List orders", tags="astrology", query={"limit": "integer"}, response=ReportOrderList)
@requires(Perm.BOOKINGS_READ_OWN)
async def list_orders(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", default=50, low=1, high=MAX_LIST)
    result = await request.app[REPORT_ORDERS].list(principal_of(request), limit=limit)
    return web.json_response(result)


@routes.get("/api/v1/report-orders/{order_id}")
@api("Get order", tags="astrology", response=ReportOrderDetail)
@requires(Perm.BOOKINGS_READ_OWN)
async def get_order(request: web.Request) -> web.Response:
    result = await request.app[REPORT_ORDERS].get(
        principal_of(request), path_uuid(request, "order_id")
    )
    return web.json_response(result)


@routes.post("/api/v1/report-orders/{order_id}/uploads")
@api(
    "Request order upload",
    tags="astrology",
    body=RequestOrderUpload,
    response=ReportUploadTicket,
    status=201,
)
@requires(Perm.BOOKINGS_MANAGE)
async def request_order_upload(request: web.Request) -> web.Response:
    body = await json_body(request, RequestOrderUpload)
    result = await request.app[REPORT_ORDERS].request_upload(
        principal_of(request), path_uuid(request, "order_id"), body
    )
    return web.json_response(result, status=201)


@routes.post("/api/v1/report-orders/{order_id}/complete")
@api(
    "Complete order upload",
    tags="astrology",
    body=CompleteOrderUpload,
    response=DeliveredOrder,
)
@requires(Perm.BOOKINGS_MANAGE)
async def complete_order_upload(request: web.Request) -> web.Response:
    body = await json_body(request, CompleteOrderUpload)
    result, delivered = await request.app[REPORT_ORDERS].complete(
        principal_of(request),
        path_uuid(request, "order_id"),
        body.upload_id,
        audit_context(request),
    )
    return web.json_response({**result, "delivered_now": delivered})


@routes.post("/api/v1/remedies")
@api(
    "Assign remedy",
    tags="astrology",
    body=AssignRemedy,
    response=AssignedRemedy,
    status=201,
    also=(200,),
)
@requires(Perm.REMINDERS_PLAN)
async def assign_remedy(request: web.Request) -> web.Response:
    body = await json_body(request, AssignRemedy)
    result, made = await request.app[REMEDIES].assign(
        principal_of(request), body, audit_context(request)
    )
    return web.json_response(result, status=201 if made else 200)


@routes.get("/api/v1/remedies")
@api("List remedies", tags="astrology", query={"limit": "integer"}, response=RemedyList)
@requires(Perm.BOOKINGS_READ_OWN)
async def list_remedies(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", default=50, low=1, high=MAX_LIST)
    result = await request.app[REMEDIES].list(principal_of(request), limit=limit)
    return web.json_response(result)


@routes.post("/api/v1/remedies/{remedy_id}/complete")
@api("Complete remedy", tags="astrology", body=CompleteRemedy, response=CompletedRemedy)
@requires(Perm.BOOKINGS_CREATE)
async def complete_remedy(request: web.Request) -> web.Response:
    body = await json_body(request, CompleteRemedy)
    result, completed = await request.app[REMEDIES].complete(
        principal_of(request), path_uuid(request, "remedy_id"), body, audit_context(request)
    )
    return web.json_response({**result, "completed_now": completed})
