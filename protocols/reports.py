"""Booking reports (a puja's photos and video, an astrologer's PDF): wire models of the REST
routes in ``hub/rest_reports.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from protocols.wire import WireModel

Filename = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
]
ContentType = Annotated[str, StringConstraints(min_length=3, max_length=100)]

BULK_MAX_ITEMS = 500
BULK_CONTENT_TYPE = "application/pdf"

BulkOutcome = Literal["completed", "not_uploaded", "invalid"]


class RequestReportUpload(WireModel):
    """``POST /api/v1/bookings/{booking_id}/reports/uploads``."""

    filename: Filename
    content_type: ContentType
    size_bytes: int = Field(gt=0)


class CompleteReportUpload(WireModel):
    """``POST /api/v1/bookings/{booking_id}/reports/complete``."""

    upload_id: UUID


class BulkUploadItem(WireModel):
    booking_id: UUID
    filename: Filename
    size_bytes: int = Field(gt=0)


class RequestBulkUploads(WireModel):
    """``POST /api/v1/tenants/{tenant_id}/reports/bulk-uploads``: PDFs, one per booking."""

    items: list[BulkUploadItem] = Field(min_length=1, max_length=BULK_MAX_ITEMS)


class CompleteBulkUploads(WireModel):
    """``POST /api/v1/tenants/{tenant_id}/reports/bulk-complete``."""

    upload_ids: list[UUID] = Field(min_length=1, max_length=BULK_MAX_ITEMS)


# -- REST answers ----------------------------------------------------------------------------


class ReportUploadTicket(WireModel):
    """A presigned PUT: send ``method`` to ``url`` with exactly ``headers`` before
    ``expires_at``, then complete ``upload_id``."""

    upload_id: UUID
    key: str = Field(description="the object's key in the file store")
    url: str
    method: Literal["PUT"]
    headers: dict[str, str]
    expires_at: datetime


class BulkUploadTicket(ReportUploadTicket):
    index: int = Field(description="position of the item in the request")
    booking_id: UUID


class BulkUploadTickets(WireModel):
    """``POST /api/v1/tenants/{tenant_id}/reports/bulk-uploads`` (201), in request order."""

    uploads: list[BulkUploadTicket]


class ReportRecorded(WireModel):
    """``POST /api/v1/bookings/{booking_id}/reports/complete``; again: the same report with
    ``created: false``."""

    report_id: UUID
    upload_id: UUID
    booking_id: UUID
    filename: str
    content_type: str
    size_bytes: int
    created_at: datetime
    created: bool


class ReportDownload(WireModel):
    report_id: UUID
    filename: str
    content_type: str
    size_bytes: int
    created_at: datetime
    download_url: str = Field(description="presigned GET, valid until expires_at")
    expires_at: datetime


class ReportList(WireModel):
    """``GET /api/v1/bookings/{booking_id}/reports``."""

    reports: list[ReportDownload]


class BulkCompletion(WireModel):
    upload_id: UUID
    booking_id: UUID | None = Field(default=None, description="absent for an unknown upload")
    status: Literal["completed", "not_uploaded", "invalid"]
    report_id: UUID | None = Field(default=None, description="when completed")
    reason: str | None = Field(default=None, description="when not completed")


class BulkCompletions(WireModel):
    """``POST /api/v1/tenants/{tenant_id}/reports/bulk-complete``: per upload, and counts."""

    results: list[BulkCompletion]
    completed: int
    not_uploaded: int
    invalid: int
