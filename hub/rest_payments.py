"""Payments and gateway webhooks over REST."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.metrics import METRICS
from hub.requests import audit_context
from hub.restkit import idempotency_key, json_body, path_uuid
from protocols.api_responses import WebhookReceipt
from protocols.errors import NotFound, SevaError, WebhookSignatureInvalid
from protocols.payments import (
    BookingCancelled,
    CancelBooking,
    CreatePaymentIntent,
    CreateRefund,
    PaymentView,
    VerifyCheckout,
)
from protocols.permissions import Perm
from storage import audit
from storage import webhook_inbox as inbox

routes = web.RouteTableDef()
GATEWAYS = ("razorpay", "cashfree")


def _key(request: web.Request, body_key: str | None) -> str:
    return idempotency_key(request, body_key, field="idempotency_key")


@routes.post("/api/v1/payments/intents")
@api(
    "Create a payment intent (a hold or a wallet top-up) and its gateway checkout",
    tags="payments",
    body=CreatePaymentIntent,
    status=201,
    errors=("conflict", "gateway_rejected", "gateway_unavailable"),
    idempotency=True,
    response=PaymentView,
)
@requires(Perm.BOOKINGS_CREATE)
async def create_payment_intent(request: web.Request) -> web.Response:
    body = await json_body(request, CreatePaymentIntent)
    view = await request.app[keys.PAYMENTS].create(
        principal_of(request),
        purpose=body.purpose,
        hold_id=body.ref if body.purpose == "hold" else None,
        wallet_ref=body.ref if body.purpose == "wallet_topup" else None,
        amount_paise=body.amount_paise,
        idempotency_key=_key(request, body.idempotency_key),
    )
    return web.json_response(view, status=201)


@routes.get("/api/v1/payments/{payment_id}")
@api("A payment intent with its attempts and refunds", tags="payments", response=PaymentView)
@requires(Perm.BOOKINGS_READ_OWN)
async def get_payment(request: web.Request) -> web.Response:
    view = await request.app[keys.PAYMENTS].view(
        path_uuid(request, "payment_id"), principal_of(request)
    )
    return web.json_response(view)


@routes.post("/api/v1/payments/{payment_id}/verify")
@api(
    "Verify a Razorpay Checkout result, then ask the gateway",
    tags="payments",
    body=VerifyCheckout,
    errors=("webhook_signature_invalid", "gateway_unavailable", "payment_declined"),
    response=PaymentView,
)
@requires(Perm.BOOKINGS_CREATE)
async def verify_payment(request: web.Request) -> web.Response:
    body = await json_body(request, VerifyCheckout)
    view = await request.app[keys.PAYMENTS].verify_checkout(
        principal_of(request),
        path_uuid(request, "payment_id"),
        gateway_order_id=body.razorpay_order_id,
        gateway_payment_id=body.razorpay_payment_id,
        signature=body.razorpay_signature,
    )
    return web.json_response(view)


@routes.post("/api/v1/payments/{payment_id}/refunds")
@api(
    "Refund a captured payment (whole or part)",
    tags="payments",
    body=CreateRefund,
    status=201,
    errors=("conflict", "gateway_rejected", "gateway_unavailable"),
    idempotency=True,
    response=PaymentView,
)
@requires(Perm.PAYMENTS_REFUND)
async def refund_payment(request: web.Request) -> web.Response:
    body = await json_body(request, CreateRefund)
    payment_id = path_uuid(request, "payment_id")
    view = await request.app[keys.PAYMENTS].refund(
        principal_of(request),
        payment_id,
        amount_paise=body.amount_paise,
        reason=body.reason,
        idempotency_key=_key(request, body.idempotency_key),
    )
    async with request.app[keys.DB].acquire() as conn:
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=principal_of(request).tenant_id,
            action="payment.refunded",
            entity="payment",
            entity_id=payment_id,
            after={"amount_paise": body.amount_paise, "reason": body.reason},
        )
    return web.json_response(view, status=201)


@routes.post("/api/v1/bookings/{hold_id}/cancel")
@api(
    "Cancel a confirmed booking and refund by the cancellation policy",
    tags="payments",
    body=CancelBooking,
    errors=("conflict", "gateway_unavailable"),
    response=BookingCancelled,
)
@requires(Perm.BOOKINGS_CREATE)
async def cancel_booking(request: web.Request) -> web.Response:
    body = await json_body(request, CancelBooking)
    result = await request.app[keys.BOOKINGS].cancel(
        principal_of(request),
        path_uuid(request, "hold_id"),
        refund_to=body.refund_to,
        reason=body.reason,
    )
    return web.json_response(result)


@routes.post("/api/v1/webhooks/{gateway}/{tenant_id}")
@api(
    "Gateway webhook (signed by the gateway; no bearer token)",
    tags="payments",
    body={"type": "object"},
    response=WebhookReceipt,
    errors=("webhook_signature_invalid",),
)
@requires(Perm.PUBLIC)  # authenticated by the gateway's signature instead of a token
async def gateway_webhook(request: web.Request) -> web.Response:
    """Verify over the exact raw bytes, store once per gateway event id, answer at once; the
    payment processor applies it (hub/payment_jobs.py)."""
    gateway = request.match_info["gateway"]
    received = datetime.now(UTC)
    raw = await request.read()
    try:
        if gateway not in GATEWAYS:
            raise NotFound("no such gateway")
        try:
            tenant_id = UUID(request.match_info["tenant_id"])
            adapter = await request.app[keys.PAYMENTS].adapter_for(tenant_id, gateway)
        except (ValueError, NotFound) as exc:
            # Nobody we know can have signed this: refuse it like a bad signature.
            raise WebhookSignatureInvalid(
                "no gateway account for this tenant", {"reason": "unknown_tenant"}
            ) from exc
        event = adapter.parse_webhook(raw, dict(request.headers), now=received)
    except SevaError as exc:
        _count_webhook(request, gateway, exc.code)
        async with request.app[keys.DB].acquire() as conn:
            await audit.record(
                conn,
                audit_context(request),
                tenant_id=None,
                action="webhook.rejected",
                entity="webhook",
                entity_id=None,
                after={
                    "gateway": gateway[:20],
                    "path": request.path[:200],
                    "code": exc.code,
                    "bytes": len(raw),
                },
            )
        raise
    async with request.app[keys.DB].acquire() as conn:
        stored = await inbox.store(
            conn,
            gateway=gateway,
            tenant_id=tenant_id,
            event_id=event.event_id,
            event_type=event.event_type,
            gateway_order_id=event.gateway_order_id,
            raw_body=raw,
            headers=json.dumps({k.lower(): v for k, v in request.headers.items()}),
        )
    request.app[keys.PAYMENT_JOBS].wake()
    _count_webhook(request, gateway, "accepted" if stored else "duplicate")
    return web.json_response({"status": "accepted" if stored else "duplicate"})


def _count_webhook(request: web.Request, gateway: str, result: str) -> None:
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.webhook(gateway if gateway in GATEWAYS else "unknown", result)
