"""REST routes of the study-library platform (README "Study library platform")."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from hub import keys
from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.restkit import idempotency_key, json_body, path_uuid
from protocols.errors import Invalid
from protocols.library import (
    AttendanceQr,
    AttendanceScan,
    AttendanceView,
    BookedSeatPlan,
    BookSeatPlan,
    DayAttendance,
    FeeDue,
    FeeDueNotice,
    OccupancyView,
    SeatPlanList,
    StudentImport,
)
from protocols.permissions import Perm

routes = web.RouteTableDef()

_CSV_TYPES = {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"}


@routes.post("/api/v1/seat-plans")
@api(
    "Book seat plan",
    tags="library",
    body=BookSeatPlan,
    response=BookedSeatPlan,
    status=201,
    also=(200,),
)
@requires(Perm.BOOKINGS_CREATE)
async def book_seat_plan(request: web.Request) -> web.Response:
    body = await json_body(request, BookSeatPlan)
    plan, made = await request.app[keys.LIBRARY].plans.book(
        principal_of(request), body, audit_context(request)
    )
    return web.json_response(plan, status=201 if made else 200)


@routes.get("/api/v1/seat-plans")
@api("List seat plans", tags="library", response=SeatPlanList)
@requires(Perm.BOOKINGS_READ_OWN)
async def list_seat_plans(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.LIBRARY].plans.list_own(principal_of(request)))


@routes.get("/api/v1/attendance/qr")
@api("The caller's attendance QR token", tags="library", response=AttendanceQr)
@requires(Perm.BOOKINGS_READ_OWN)
async def attendance_qr(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.LIBRARY].attendance.qr_for(principal_of(request)))


@routes.post("/api/v1/attendance/check-in")
@api("Check in by QR scan", tags="library", body=AttendanceScan, response=AttendanceView)
@requires(Perm.LIVE_PUSH)
async def check_in(request: web.Request) -> web.Response:
    body = await json_body(request, AttendanceScan)
    result = await request.app[keys.LIBRARY].attendance.check_in(
        principal_of(request), body, audit_context(request)
    )
    return web.json_response(result)


@routes.post("/api/v1/attendance/check-out")
@api("Check out by QR scan", tags="library", body=AttendanceScan, response=AttendanceView)
@requires(Perm.LIVE_PUSH)
async def check_out(request: web.Request) -> web.Response:
    body = await json_body(request, AttendanceScan)
    result = await request.app[keys.LIBRARY].attendance.check_out(
        principal_of(request), body, audit_context(request)
    )
    return web.json_response(result)


@routes.get("/api/v1/libraries/{library_id}/occupancy")
@api("A library's occupancy now", tags="library", response=OccupancyView)
@requires(Perm.AVAILABILITY_READ)
async def occupancy(request: web.Request) -> web.Response:
    result = await request.app[keys.LIBRARY].attendance.occupancy(
        principal_of(request), path_uuid(request, "library_id")
    )
    return web.json_response(result)


@routes.get("/api/v1/libraries/{library_id}/attendance")
@api(
    "A library's attendance on a day",
    tags="library",
    query={"date": "date!"},
    response=DayAttendance,
)
@requires(Perm.BOOKINGS_READ_TENANT)
async def attendance_of_day(request: web.Request) -> web.Response:
    day = request.query.get("date")
    if day is None:
        raise Invalid("date=YYYY-MM-DD is required", {"loc": ["query", "date"]})
    result = await request.app[keys.LIBRARY].attendance.day_report(
        principal_of(request), path_uuid(request, "library_id"), day
    )
    return web.json_response(result)


@routes.post("/api/v1/students/import")
@api(
    "Import students from CSV (text/csv or multipart/form-data)",
    tags="library",
    body={"type": "string"},
    response=StudentImport,
    status=201,
    also=(200,),
    idempotency=True,
    body_media_type="text/csv",
)
@requires(Perm.STAFF_MANAGE)
async def import_students(request: web.Request) -> web.Response:
    key = None
    if "Idempotency-Key" in request.headers:
        key = idempotency_key(request, None, field="Idempotency-Key")
    body = await _csv_bytes(request)
    result, made = await request.app[keys.LIBRARY].students.import_csv(
        principal_of(request), body, key, audit_context(request)
    )
    return web.json_response(result, status=201 if made else 200)


@routes.post("/api/v1/students/{user_id}/fee-due")
@api(
    "Tell a student a fee is due",
    tags="library",
    body=FeeDue,
    response=FeeDueNotice,
    status=201,
    also=(200,),
)
@requires(Perm.REMINDERS_PLAN)
async def fee_due(request: web.Request) -> web.Response:
    body = await json_body(request, FeeDue)
    result, made = await request.app[keys.LIBRARY].students.fee_due(
        principal_of(request), path_uuid(request, "user_id"), body, audit_context(request)
    )
    return web.json_response(result, status=201 if made else 200)


async def _csv_bytes(request: web.Request) -> bytes:
    """The CSV file: the body itself (``text/csv``), or the ``file`` part of a multipart form."""
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "file":
                return bytes(await part.read())
        raise Invalid("the form has no 'file' part", {"reason": "no_file"})
    if request.content_type not in _CSV_TYPES:
        raise Invalid(
            "send the CSV as text/csv or as the 'file' part of multipart/form-data",
            {"reason": "content_type", "content_type": request.content_type},
        )
    return await request.read()
