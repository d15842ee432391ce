"""Booking reports (a puja's photos and video, an astrologer's PDF): wire models of the REST
routes in ``hub/rest_reports.py``."""

from __future__ import annotations

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
