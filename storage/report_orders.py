"""Report products (with their intake JSON Schema), orders of them, and the uploads of an
order's report file. Every function takes the connection and ``tenant_id``; call them inside
``tenant_scope``.

An order's status: ``pending_payment`` → ``paid`` (:func:`mark_paid`) → ``delivered``
(:func:`mark_delivered`, which also queues the client's notification in the same
transaction)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from storage import notifications

OrderStatus = Literal["pending_payment", "paid", "delivered"]


@dataclass(frozen=True)
class ReportProduct:
    product_id: UUID
    tenant_id: UUID
    name: str
    price_paise: int
    intake_schema: dict[str, Any]
    version: int
    updated_at: datetime

    def wire(self) -> dict[str, Any]:
        return {
            "product_id": str(self.product_id),
            "name": self.name,
            "price_paise": self.price_paise,
            "intake_schema": self.intake_schema,
            "version": self.version,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ReportOrder:
    order_id: UUID
    tenant_id: UUID
    product_id: UUID
    user_id: UUID
    intake: dict[str, Any]
    price_paise: int
    idempotency_key: str
    status: OrderStatus
    transfer_id: str
    object_key: str | None
    filename: str | None
    content_type: str | None
    size_bytes: int | None
    created_at: datetime
    paid_at: datetime | None
    delivered_at: datetime | None

    def wire(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "product_id": str(self.product_id),
            "user_id": str(self.user_id),
            "intake": self.intake,
            "price_paise": self.price_paise,
            "status": self.status,
            "idempotency_key": self.idempotency_key,
            "transfer_id": self.transfer_id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at.isoformat(),
            "paid_at": self.paid_at.isoformat() if self.paid_at else None,
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


@dataclass(frozen=True)
class OrderUpload:
    upload_id: UUID
    tenant_id: UUID
    order_id: UUID
    object_key: str
    filename: str
    content_type: str
    size_bytes: int


_ORDER_COLUMNS = (
    "id, tenant_id, product_id, user_id, intake, price_paise, idempotency_key, status, "
    "transfer_id, object_key, filename, content_type, size_bytes, created_at, paid_at, "
    "delivered_at"
)


async def put_product(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    product_id: UUID,
    name: str,
    price_paise: int,
    intake_schema: dict[str, Any],
) -> tuple[ReportProduct, bool]:
    """Create or replace the product; returns (it, created now). A replacement bumps
    ``version``; orders keep the price they were made with."""
    row = await conn.fetchrow(
        """
        INSERT INTO report_products (id, tenant_id, name, price_paise, intake_schema)
        VALUES ($1, $2, $3, $4, $5::jsonb)
        ON CONFLICT (tenant_id, id) DO UPDATE
        SET name = EXCLUDED.name, price_paise = EXCLUDED.price_paise,
            intake_schema = EXCLUDED.intake_schema,
            version = report_products.version + 1, updated_at = now()
        RETURNING id, tenant_id, name, price_paise, intake_schema, version, updated_at,
                  (xmax = 0) AS created
        """,
        product_id,
        tenant_id,
        name,
        price_paise,
        json.dumps(intake_schema),
    )
    return _product(row), bool(row["created"])


async def get_product(
    conn: asyncpg.Connection, *, tenant_id: UUID, product_id: UUID
) -> ReportProduct | None:
    row = await conn.fetchrow(
        "SELECT id, tenant_id, name, price_paise, intake_schema, version, updated_at "
        "FROM report_products WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        product_id,
    )
    return _product(row) if row is not None else None


async def list_products(conn: asyncpg.Connection, *, tenant_id: UUID) -> list[ReportProduct]:
    rows = await conn.fetch(
        "SELECT id, tenant_id, name, price_paise, intake_schema, version, updated_at "
        "FROM report_products WHERE tenant_id = $1 ORDER BY name, id",
        tenant_id,
    )
    return [_product(r) for r in rows]


async def insert_order(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    order_id: UUID,
    product_id: UUID,
    user_id: UUID,
    intake: dict[str, Any],
    price_paise: int,
    idempotency_key: str,
    transfer_id: str,
) -> tuple[ReportOrder, bool]:
    """The order of this user's key: made now, or the one made before (returns (it, made))."""
    made = await conn.fetchval(
        """
        INSERT INTO report_orders (id, tenant_id, product_id, user_id, intake, price_paise,
                                   idempotency_key, transfer_id)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
        ON CONFLICT (tenant_id, user_id, idempotency_key) DO NOTHING
        RETURNING id
        """,
        order_id,
        tenant_id,
        product_id,
        user_id,
        json.dumps(intake),
        price_paise,
        idempotency_key,
        transfer_id,
    )
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS} FROM report_orders "
        "WHERE tenant_id = $1 AND user_id = $2 AND idempotency_key = $3",
        tenant_id,
        user_id,
        idempotency_key,
    )
    return _order(row), made is not None


async def get_order(
    conn: asyncpg.Connection, *, tenant_id: UUID, order_id: UUID, for_update: bool = False
) -> ReportOrder | None:
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS} FROM report_orders WHERE tenant_id = $1 AND id = $2"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
        order_id,
    )
    return _order(row) if row is not None else None


async def list_orders(
    conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID | None, limit: int
) -> list[ReportOrder]:
    """Newest first; one user's (``user_id``) or the tenant's."""
    rows = await conn.fetch(
        f"SELECT {_ORDER_COLUMNS} FROM report_orders "
        "WHERE tenant_id = $1 AND ($2::uuid IS NULL OR user_id = $2) "
        "ORDER BY created_at DESC, id LIMIT $3",
        tenant_id,
        user_id,
        limit,
    )
    return [_order(r) for r in rows]


async def mark_paid(conn: asyncpg.Connection, *, tenant_id: UUID, order_id: UUID) -> ReportOrder:
    row = await conn.fetchrow(
        f"""
        UPDATE report_orders SET status = 'paid', paid_at = coalesce(paid_at, now())
        WHERE tenant_id = $1 AND id = $2 AND status = 'pending_payment'
        RETURNING {_ORDER_COLUMNS}
        """,
        tenant_id,
        order_id,
    )
    if row is None:
        found = await get_order(conn, tenant_id=tenant_id, order_id=order_id)
        assert found is not None
        return found
    return _order(row)


async def insert_upload(
    conn: asyncpg.Connection, *, upload: OrderUpload, requested_by: UUID
) -> None:
    await conn.execute(
        "INSERT INTO report_order_uploads (id, tenant_id, order_id, object_key, filename, "
        "content_type, size_bytes, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        upload.upload_id,
        upload.tenant_id,
        upload.order_id,
        upload.object_key,
        upload.filename,
        upload.content_type,
        upload.size_bytes,
        requested_by,
    )


async def get_upload(
    conn: asyncpg.Connection, *, tenant_id: UUID, upload_id: UUID
) -> OrderUpload | None:
    row = await conn.fetchrow(
        "SELECT id, tenant_id, order_id, object_key, filename, content_type, size_bytes "
        "FROM report_order_uploads WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        upload_id,
    )
    if row is None:
        return None
    return OrderUpload(
        row["id"],
        row["tenant_id"],
        row["order_id"],
        row["object_key"],
        row["filename"],
        row["content_type"],
        row["size_bytes"],
    )


async def mark_delivered(
    conn: asyncpg.Connection,
    *,
    upload: OrderUpload,
    size_bytes: int,
    notice: dict[str, Any],
) -> ReportOrder | None:
    """Record the upload as the paid order's report and queue ``notice`` (a ``system``
    notification's data) for the client, once per order; None if the order was not ``paid``
    (already delivered, or not paid yet). Lock the order first (:func:`get_order`)."""
    row = await conn.fetchrow(
        f"""
        UPDATE report_orders
        SET status = 'delivered', delivered_at = now(), object_key = $3, filename = $4,
            content_type = $5, size_bytes = $6
        WHERE tenant_id = $1 AND id = $2 AND status = 'paid'
        RETURNING {_ORDER_COLUMNS}
        """,
        upload.tenant_id,
        upload.order_id,
        upload.object_key,
        upload.filename,
        upload.content_type,
        size_bytes,
    )
    if row is None:
        return None
    order = _order(row)
    await notifications.enqueue(
        conn,
        tenant_id=order.tenant_id,
        user_id=order.user_id,
        kind="system",
        data=notice,
        dedupe_key=f"report_order_ready:{order.order_id}",
    )
    return order


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _product(row: asyncpg.Record) -> ReportProduct:
    return ReportProduct(
        row["id"],
        row["tenant_id"],
        row["name"],
        row["price_paise"],
        _json(row["intake_schema"]),
        row["version"],
        row["updated_at"],
    )


def _order(row: asyncpg.Record) -> ReportOrder:
    return ReportOrder(
        order_id=row["id"],
        tenant_id=row["tenant_id"],
        product_id=row["product_id"],
        user_id=row["user_id"],
        intake=_json(row["intake"]),
        price_paise=row["price_paise"],
        idempotency_key=row["idempotency_key"],
        status=row["status"],
        transfer_id=row["transfer_id"],
        object_key=row["object_key"],
        filename=row["filename"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        created_at=row["created_at"],
        paid_at=row["paid_at"],
        delivered_at=row["delivered_at"],
    )
