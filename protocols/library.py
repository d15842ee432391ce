"""Wire models of the study-library platform (README "Study library platform"): seat plans,
attendance scans, occupancy subscriptions and fee-due notices."""

from __future__ import annotations

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
