"""Booking reports over REST: presigned uploads, completion, downloads, admin bulk uploads."""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.restkit import json_body, path_uuid
from protocols.permissions import Perm
from protocols.reports import (
    BulkCompletions,
    BulkUploadTickets,
    CompleteBulkUploads,
    CompleteReportUpload,
    ReportList,
    ReportRecorded,
    ReportUploadTicket,
    RequestBulkUploads,
    RequestReportUpload,
)

routes = web.RouteTableDef()


@routes.post("/api/v1/bookings/{booking_id}/reports/uploads")
@api(
    "Signed upload URL for a booking report",
    tags="reports",
    body=RequestReportUpload,
    status=201,
    response=ReportUploadTicket,
)
@requires(Perm.LIVE_PUSH)
async def request_upload(request: web.Request) -> web.Response:
    body = await json_body(request, RequestReportUpload)
    answer = await request.app[keys.REPORTS].request_upload(
        principal_of(request), path_uuid(request, "booking_id"), body
    )
    return web.json_response(answer, status=201)


@routes.post("/api/v1/bookings/{booking_id}/reports/complete")
@api(
    "Finish a booking report upload",
    tags="reports",
    body=CompleteReportUpload,
    response=ReportRecorded,
)
@requires(Perm.LIVE_PUSH)
async def complete_upload(request: web.Request) -> web.Response:
    body = await json_body(request, CompleteReportUpload)
    answer = await request.app[keys.REPORTS].complete(
        principal_of(request),
        path_uuid(request, "booking_id"),
        body.upload_id,
        audit_context(request),
    )
    return web.json_response(answer)


@routes.get("/api/v1/bookings/{booking_id}/reports")
@api("List reports", tags="reports", response=ReportList)
@requires(Perm.BOOKINGS_READ_OWN)
async def list_reports(request: web.Request) -> web.Response:
    answer = await request.app[keys.REPORTS].list_reports(
        principal_of(request), path_uuid(request, "booking_id")
    )
    return web.json_response(answer)


@routes.post("/api/v1/tenants/{tenant_id}/reports/bulk-uploads")
@api(
    "Request bulk uploads",
    tags="reports",
    body=RequestBulkUploads,
    status=201,
    response=BulkUploadTickets,
)
@requires(Perm.BOOKINGS_MANAGE)
async def request_bulk_uploads(request: web.Request) -> web.Response:
    body = await json_body(request, RequestBulkUploads)
    answer = await request.app[keys.REPORTS].request_bulk(
        principal_of(request), path_uuid(request, "tenant_id"), body
    )
    return web.json_response(answer, status=201)


@routes.post("/api/v1/tenants/{tenant_id}/reports/bulk-complete")
@api("Complete bulk uploads", tags="reports", body=CompleteBulkUploads, response=BulkCompletions)
@requires(Perm.BOOKINGS_MANAGE)
async def complete_bulk_uploads(request: web.Request) -> web.Response:
    body = await json_body(request, CompleteBulkUploads)
    answer = await request.app[keys.REPORTS].complete_bulk(
        principal_of(request), path_uuid(request, "tenant_id"), body, audit_context(request)
    )
    return web.json_response(answer)
