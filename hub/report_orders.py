"""Report products and orders: a tenant sells reports (a kundli, a yearly forecast) whose
intake form is a JSON Schema of its own; a client orders one with the form filled in, pays
from the wallet, and gets the PDF in-app and by email once an admin uploads it.

Paying: the order row is made first (by the client's idempotency key, with a fixed transfer
id), then the price moves from the client's INR wallet to the tenant's payable account
through the wallet actors, then the order is marked paid. Each step is idempotent, so a retry
with the same key finishes an order a crash or a short wallet left ``pending_payment``.

Delivering: as for booking reports (``hub/reports.py``), the admin gets a presigned PUT, and
completing looks at the stored object (HEAD) before one transaction marks the order delivered
and queues a ``system`` notification carrying a ``download_url`` (valid
``NOTICE_LINK_SECS``), delivered in-app and over the client's channels (email renders it as a
link). Completing again answers the order and notifies nobody again.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import asyncpg

from actors.ledger import TransferSpec
from hub.auth import Principal
from hub.consultations import wallet_accounts
from hub.reports import ReportService
from hub.wallets import WalletService
from protocols.errors import Conflict, Invalid, NotFound
from protocols.files import FileStore, safe_filename
from protocols.report_orders import (
    CreateReportOrder,
    PutReportProduct,
    RequestOrderUpload,
    check_intake,
    check_schema,
)
from storage import audit
from storage import report_orders as store
from storage.tenancy import tenant_scope

# S3 signs GET URLs for at most 7 days; the in-app notice and the email carry one this long.
NOTICE_LINK_SECS = 7 * 24 * 3600
ORDER_CODE = "report_order"


def object_key(tenant_id: UUID, order_id: UUID, upload_id: UUID, filename: str) -> str:
    return f"tenants/{tenant_id}/report-orders/{order_id}/{upload_id}/{safe_filename(filename)}"


class ReportOrderService:
    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        wallets: WalletService,
        store: FileStore,
        reports: ReportService,
        upload_expiry_secs: int,
        download_expiry_secs: int,
    ) -> None:
        self._db = db
        self._wallets = wallets
        self._store = store
        self._reports = reports
        self._upload_expiry_secs = upload_expiry_secs
        self._download_expiry_secs = download_expiry_secs

    # -- products ------------------------------------------------------------------------------

    async def put_product(
        self,
        tenant_id: UUID,
        product_id: UUID,
        body: PutReportProduct,
        ctx: audit.AuditContext,
    ) -> tuple[dict[str, Any], bool]:
        """Create or replace; Invalid (``invalid_schema``) for a schema that is not one."""
        check_schema(body.intake_schema)
        async with tenant_scope(self._db, tenant_id) as conn:
            product, created = await store.put_product(
                conn,
                tenant_id=tenant_id,
                product_id=product_id,
                name=body.name,
                price_paise=body.price_paise,
                intake_schema=body.intake_schema,
            )
            await audit.record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="report_product.saved",
                entity="report_product",
                entity_id=product_id,
                after={"name": body.name, "price_paise": body.price_paise},
            )
        return product.wire(), created

    async def list_products(self, tenant_id: UUID) -> dict[str, Any]:
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            found = await store.list_products(conn, tenant_id=tenant_id)
        return {"products": [p.wire() for p in found]}

    # -- orders --------------------------------------------------------------------------------

    async def order(
        self, principal: Principal, body: CreateReportOrder
    ) -> tuple[dict[str, Any], bool]:
        """Order and pay; returns (the order, made now). Raises NotFound (product), Invalid
        (intake, one entry per failing path), Conflict (the key was used for another order),
        InsufficientFunds (the order stays ``pending_payment``; retry with the same key)."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise NotFound("no such product", {"product_id": str(body.product_id)})
        async with tenant_scope(self._db, tenant_id) as conn:
            product = await store.get_product(conn, tenant_id=tenant_id, product_id=body.product_id)
            if product is None:
                raise NotFound("no such product", {"product_id": str(body.product_id)})
            check_intake(product.intake_schema, body.intake)
            order_id = uuid.uuid4()
            order, made = await store.insert_order(
                conn,
                tenant_id=tenant_id,
                order_id=order_id,
                product_id=product.product_id,
                user_id=principal.user_id,
                intake=body.intake,
                price_paise=product.price_paise,
                idempotency_key=body.idempotency_key,
                transfer_id=f"{tenant_id}:{ORDER_CODE}:{order_id}",
            )
        if order.product_id != body.product_id or order.intake != body.intake:
            raise Conflict(
                "idempotency key was already used for a different order",
                {"reason": "exists_with_different_fields", "order_id": str(order.order_id)},
            )
        if order.status == "pending_payment":
            order = await self._pay(order)
        return order.wire(), made

    async def _pay(self, order: store.ReportOrder) -> store.ReportOrder:
        if order.price_paise > 0:
            wallet, payable = await wallet_accounts(
                self._db, tenant_id=order.tenant_id, user_id=order.user_id
            )
            await self._wallets.apply(
                (
                    TransferSpec(
                        order.transfer_id,
                        wallet,
                        payable,
                        order.price_paise,
                        code=ORDER_CODE,
                        user_data={"order_id": str(order.order_id)},
                    ),
                )
            )
        async with tenant_scope(self._db, order.tenant_id) as conn:
            return await store.mark_paid(conn, tenant_id=order.tenant_id, order_id=order.order_id)

    async def get(self, principal: Principal, order_id: UUID) -> dict[str, Any]:
        """The order for its client and the tenant's staff (others: NotFound), with a fresh
        ``download_url`` once delivered."""
        order = await self._readable(principal, order_id)
        view = order.wire()
        if order.status == "delivered" and order.object_key and order.filename:
            link = await self._store.presign_get(
                order.object_key,
                expires_secs=self._download_expiry_secs,
                download_name=safe_filename(order.filename),
            )
            view |= {"download_url": link.url, "download_expires_at": link.expires_at.isoformat()}
        return view

    async def list(self, principal: Principal, *, limit: int) -> dict[str, Any]:
        """A client's own orders; the tenant's staff see all of the tenant's."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            return {"orders": []}
        mine = None if principal.is_staff_of(tenant_id) else principal.user_id
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            found = await store.list_orders(conn, tenant_id=tenant_id, user_id=mine, limit=limit)
        return {"orders": [o.wire() for o in found]}

    # -- the report file -----------------------------------------------------------------------

    async def request_upload(
        self, principal: Principal, order_id: UUID, body: RequestOrderUpload
    ) -> dict[str, Any]:
        """A presigned PUT for the paid order's report (Invalid: type or size; Conflict:
        ``not_paid`` / ``already_delivered``)."""
        self._reports.check_file(body.content_type, body.size_bytes)
        order = await self._staff_order(principal, order_id)
        _check_deliverable(order)
        upload_id = uuid.uuid4()
        upload = store.OrderUpload(
            upload_id=upload_id,
            tenant_id=order.tenant_id,
            order_id=order.order_id,
            object_key=object_key(order.tenant_id, order.order_id, upload_id, body.filename),
            filename=body.filename,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
        )
        link = await self._store.presign_put(
            upload.object_key,
            content_type=upload.content_type,
            max_bytes=upload.size_bytes,
            expires_secs=self._upload_expiry_secs,
        )
        async with tenant_scope(self._db, order.tenant_id) as conn:
            await store.insert_upload(conn, upload=upload, requested_by=principal.user_id)
        return {"upload_id": str(upload_id), "key": upload.object_key, **link.wire()}

    async def complete(
        self, principal: Principal, order_id: UUID, upload_id: UUID, ctx: audit.AuditContext
    ) -> tuple[dict[str, Any], bool]:
        """Deliver the order with this upload once its object is stored; returns (the order,
        delivered now). Conflict ``not_uploaded`` (upload first); Invalid ``size_mismatch`` /
        ``content_type_mismatch``."""
        order = await self._staff_order(principal, order_id)
        if order.status == "delivered":
            return order.wire(), False
        _check_deliverable(order)
        async with tenant_scope(self._db, order.tenant_id, readonly=True) as conn:
            upload = await store.get_upload(conn, tenant_id=order.tenant_id, upload_id=upload_id)
        if upload is None or upload.order_id != order_id:
            raise NotFound("no such upload for this order", {"upload_id": str(upload_id)})
        stored = await self._store.head(upload.object_key)
        if stored is None:
            raise Conflict(
                "nothing has been uploaded to this upload's URL yet",
                {"reason": "not_uploaded", "upload_id": str(upload_id)},
            )
        if stored.size_bytes > upload.size_bytes:
            raise Invalid(
                "the uploaded file is larger than declared",
                {"reason": "size_mismatch", "declared_bytes": upload.size_bytes},
            )
        if stored.content_type != upload.content_type:
            raise Invalid(
                "the uploaded file's content type differs from the declared one",
                {"reason": "content_type_mismatch", "declared": upload.content_type},
            )
        link = await self._store.presign_get(
            upload.object_key,
            expires_secs=NOTICE_LINK_SECS,
            download_name=safe_filename(upload.filename),
        )
        async with tenant_scope(self._db, order.tenant_id) as conn:
            locked = await store.get_order(
                conn, tenant_id=order.tenant_id, order_id=order_id, for_update=True
            )
            assert locked is not None
            if locked.status == "delivered":
                return locked.wire(), False
            product = await store.get_product(
                conn, tenant_id=order.tenant_id, product_id=order.product_id
            )
            name = product.name if product is not None else "report"
            delivered = await store.mark_delivered(
                conn,
                upload=upload,
                size_bytes=stored.size_bytes,
                notice={
                    "title": f"Your {name} is ready",
                    "body": f"Your {name} is ready to download.",
                    "order_id": str(order_id),
                    "product_id": str(order.product_id),
                    "filename": upload.filename,
                    "content_type": upload.content_type,
                    "download_url": link.url,
                    "download_expires_at": link.expires_at.isoformat(),
                },
            )
            if delivered is None:
                raise Conflict("the order is not paid", {"reason": "not_paid"})
            await audit.record(
                conn,
                ctx,
                tenant_id=order.tenant_id,
                action="report_order.delivered",
                entity="report_order",
                entity_id=order_id,
                after={"upload_id": upload_id, "filename": upload.filename},
            )
        return delivered.wire(), True

    # -- helpers -------------------------------------------------------------------------------

    async def _readable(self, principal: Principal, order_id: UUID) -> store.ReportOrder:
        order = await self._find(principal, order_id)
        if not (principal.is_staff_of(order.tenant_id) or principal.user_id == order.user_id):
            raise NotFound("no such order", {"order_id": str(order_id)})
        return order

    async def _staff_order(self, principal: Principal, order_id: UUID) -> store.ReportOrder:
        order = await self._find(principal, order_id)
        if not principal.is_staff_of(order.tenant_id):
            raise NotFound("no such order", {"order_id": str(order_id)})
        return order

    async def _find(self, principal: Principal, order_id: UUID) -> store.ReportOrder:
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise NotFound("no such order", {"order_id": str(order_id)})
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            order = await store.get_order(conn, tenant_id=tenant_id, order_id=order_id)
        if order is None:
            raise NotFound("no such order", {"order_id": str(order_id)})
        return order


def _check_deliverable(order: store.ReportOrder) -> None:
    if order.status == "pending_payment":
        raise Conflict("the order is not paid", {"reason": "not_paid"})
    if order.status == "delivered":
        raise Conflict("the order's report was delivered", {"reason": "already_delivered"})
