"""Wire models of the study-library platform (README "Study library platform"): seat plans,
attendance scans, occupancy subscriptions and fee-due notices."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from protocols.wire import IdempotencyKey, IsoDate, WireModel

OCCUPANCY_EVENT = "occupancy"
MAX_PLAN_DAYS = 31
MAX_IMPORT_ROWS = 5000


def occupancy_room(library_id: UUID) -> str:
    """Sockets following a library's live occupancy (``occupancy:subscribe``)."""
    return f"occupancy:{library_id}"


class BookSeatPlan(WireModel):
    """``POST /api/v1/seat-plans``: a seat for every day from ``start_date``, ``days`` long."""

    resource_id: UUID
    start_date: IsoDate
    days: int = Field(default=30, ge=1, le=MAX_PLAN_DAYS)
    idempotency_key: IdempotencyKey


class AttendanceScan(WireModel):
    """``POST /api/v1/attendance/check-in`` and ``.../check-out``: the student's QR token as
    scanned, and the scanning device's key so a retried scan answers the same row."""

    qr_token: str = Field(min_length=1, max_length=512)
    idempotency_key: IdempotencyKey | None = None


class FollowOccupancy(WireModel):
    """``occupancy:subscribe`` / ``occupancy:unsubscribe``; a library is a tenant."""

    library_id: UUID


class FeeDue(WireModel):
    """``POST /api/v1/students/{user_id}/fee-due``."""

    amount_paise: int = Field(gt=0, le=100_000_000)
    due_date: IsoDate
    idempotency_key: IdempotencyKey


# -- answers ---------------------------------------------------------------------------------


class RenewalReminder(WireModel):
    """The scheduled message that tells the student their plan is ending."""

    id: UUID
    kind: Literal["plan_renewal"]
    purpose: Literal["renewal"]
    data: dict[str, Any] = Field(description="seat_plan_id, seat (its name) and plan_ends_on")
    due_at: datetime
    status: Literal["scheduled", "sent", "cancelled"]


class SeatPlanView(WireModel):
    """A seat plan as ``GET /api/v1/seat-plans`` lists it."""

    plan_id: UUID
    user_id: UUID
    resource_id: UUID
    starts_on: Date
    ends_on: Date
    status: Literal["pending", "active", "failed"]
    booking_ids: list[UUID] = Field(description="one confirmed seat booking per day")
    amount_paise: int
    failure: dict[str, Any] | None = Field(
        description="why a failed plan failed: the error code and its details"
    )
    idempotency_key: str
    created_at: datetime


class BookedSeatPlan(SeatPlanView):
    """``POST /api/v1/seat-plans``: the plan and its renewal reminder (null when the plan ends
    too soon for one)."""

    renewal_reminder: RenewalReminder | None


class SeatPlanList(WireModel):
    """``GET /api/v1/seat-plans``: the caller's plans, latest first (at most 100)."""

    plans: list[SeatPlanView]


class AttendanceQr(WireModel):
    """``GET /api/v1/attendance/qr``: the signed token the student shows at the door."""

    qr_token: str
    expires_at: datetime
    ttl_secs: int


class AttendanceView(WireModel):
    """``POST /api/v1/attendance/check-in`` and ``.../check-out``: the attendance row."""

    attendance_id: UUID
    user_id: UUID
    booking_id: UUID
    resource_id: UUID
    date: Date
    checked_in_at: datetime
    status: Literal["on_time", "late"]
    late_by_secs: int
    checked_out_at: datetime | None
    duration_secs: int | None
    changed: bool = Field(description="false when the scan had already been applied")


class OccupancyView(WireModel):
    """``GET /api/v1/libraries/{library_id}/occupancy`` (and the ``occupancy`` event)."""

    library_id: UUID
    occupied: int
    capacity: int
    at: datetime


AttendanceStatus = Literal["on_time", "late", "absent", "expected"]


class DayAttendanceRow(WireModel):
    booking_id: UUID
    user_id: UUID
    name: str
    resource_id: UUID
    slot_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: AttendanceStatus = Field(
        description="absent: never checked in and the booking ended; expected: not yet"
    )
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    late_by_secs: int | None
    duration_secs: int | None


class DayAttendanceCounts(WireModel):
    on_time: int
    late: int
    absent: int
    expected: int


class DayAttendance(WireModel):
    """``GET /api/v1/libraries/{library_id}/attendance?date=``: every confirmed seat booking
    of the day with its attendance."""

    library_id: UUID
    date: Date
    bookings: list[DayAttendanceRow]
    counts: DayAttendanceCounts


class ImportedStudent(WireModel):
    line: int = Field(description="line of the CSV file")
    user_id: UUID
    name: str
    phone: str
    email: str | None
    language: str


class StudentImport(WireModel):
    """``POST /api/v1/students/import``: the students created (all rows or none)."""

    imported: int
    students: list[ImportedStudent]


class FeeDueNotice(WireModel):
    """``POST /api/v1/students/{user_id}/fee-due``."""

    user_id: UUID
    amount_paise: int
    due_date: Date
    idempotency_key: str
    created_at: datetime
    kind: Literal["fee_due"]
