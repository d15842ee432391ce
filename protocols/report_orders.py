"""Report products (a kundli, a yearly forecast ...) with a tenant-defined intake form, and
their orders: wire models and the intake check against the product's JSON Schema."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from pydantic import Field, StringConstraints

from protocols.errors import Invalid
from protocols.wire import IdempotencyKey, WireModel

MAX_PRICE_PAISE = 10_000_000
MAX_INTAKE_ERRORS = 50

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FileName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class PutReportProduct(WireModel):
    """``PUT /api/v1/report-products/{product_id}``: create or replace a product.
    ``intake_schema`` is a JSON Schema (draft 2020-12) of the order's ``intake`` object."""

    name: Name
    price_paise: int = Field(ge=0, le=MAX_PRICE_PAISE)
    intake_schema: dict[str, Any]


class CreateReportOrder(WireModel):
    """``POST /api/v1/report-orders``: the intake is checked against the product's schema, and
    the price is paid from the caller's wallet; the same key answers the same order."""

    product_id: UUID
    intake: dict[str, Any]
    idempotency_key: IdempotencyKey


class RequestOrderUpload(WireModel):
    """``POST /api/v1/report-orders/{order_id}/uploads``: a presigned PUT for the report."""

    filename: FileName
    content_type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    size_bytes: int = Field(ge=1)


class CompleteOrderUpload(WireModel):
    upload_id: UUID


def check_schema(schema: dict[str, Any]) -> None:
    """Raises Invalid (``details.reason = "invalid_schema"``) unless ``schema`` is a valid
    draft 2020-12 JSON Schema of an object."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise Invalid(
            "intake_schema is not a valid JSON Schema",
            {"reason": "invalid_schema", "path": [str(p) for p in exc.path], "msg": exc.message},
        ) from None
    if schema.get("type") != "object":
        raise Invalid(
            "intake_schema must describe an object (type: object)",
            {"reason": "invalid_schema", "path": ["type"]},
        )


def check_intake(schema: dict[str, Any], intake: dict[str, Any]) -> None:
    """Raises Invalid with ``details: [{loc, msg, type}]``, one per failing place of
    ``intake`` (``loc`` starts with ``intake``), unless it satisfies ``schema``. Formats
    (``date``, ``time``, ...) are asserted."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(intake), key=lambda e: [str(p) for p in e.path])
    if not errors:
        return
    raise Invalid(
        "intake does not match the product's form",
        [
            {
                "loc": ["intake", *[str(p) for p in err.path]],
                "msg": _message(err),
                "type": str(err.validator),
            }
            for err in errors[:MAX_INTAKE_ERRORS]
        ],
    )


def _message(err: ValidationError) -> str:
    """What is wrong, without echoing the client's value back."""
    if err.validator == "required":
        return err.message
    rule = json.dumps(err.validator_value, ensure_ascii=False)
    if len(rule) > 200:
        rule = rule[:197] + "..."
    return f"does not satisfy {err.validator} {rule}"


# -- answers ---------------------------------------------------------------------------------

OrderStatus = Literal["pending_payment", "paid", "delivered"]


class ReportProductView(WireModel):
    """A report product (``PUT /api/v1/report-products/{product_id}`` answers it)."""

    product_id: UUID
    name: str
    price_paise: int
    intake_schema: dict[str, Any] = Field(description="JSON Schema the order's intake must fit")
    version: int = Field(description="bumped by every change")
    updated_at: datetime


class ReportProductList(WireModel):
    """``GET /api/v1/report-products``."""

    products: list[ReportProductView]


class ReportOrderView(WireModel):
    """A report order as its client and the tenant's staff see it."""

    order_id: UUID
    product_id: UUID
    user_id: UUID
    intake: dict[str, Any]
    price_paise: int
    status: OrderStatus
    idempotency_key: str
    transfer_id: str = Field(description="the wallet transfer that paid it")
    filename: str | None
    content_type: str | None
    size_bytes: int | None
    created_at: datetime
    paid_at: datetime | None
    delivered_at: datetime | None


class ReportOrderDetail(ReportOrderView):
    """``GET /api/v1/report-orders/{order_id}``: with a fresh download link once delivered."""

    download_url: str | None = Field(default=None, description="present once delivered")
    download_expires_at: datetime | None = Field(default=None, description="present once delivered")


class ReportOrderList(WireModel):
    """``GET /api/v1/report-orders``: a client's own orders; staff see all of the tenant's."""

    orders: list[ReportOrderView]


class DeliveredOrder(ReportOrderView):
    """``POST /api/v1/report-orders/{order_id}/complete``."""

    delivered_now: bool = Field(description="false when the order had been delivered before")
