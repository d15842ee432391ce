"""Both gateway adapters over real HTTP, against small local stand-ins for the gateways' APIs.

Each stub is an aiohttp server on loopback answering the few endpoints the adapters call with
the JSON the real APIs send (shapes taken from the SDKs' models and the gateways' docs). It
records every request's credentials, so the tests can prove that two tenants paying at once
never borrow each other's Cashfree (or Razorpay) credentials, which the cashfree-pg SDK's own
``Cashfree.PG*`` methods cannot promise (they swap one process-wide client's configuration per
call; see ``protocols/gateways/cashfree_adapter.py``).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from cashfree_pg.api_client import ApiClient, Cashfree
from cashfree_pg.configuration import Configuration
from pydantic import SecretStr

from protocols.errors import (
    Conflict,
    GatewayRejected,
    GatewayUnavailable,
    NotFound,
    PaymentDeclined,
)
from protocols.gateways.cashfree_adapter import (
    CashfreeGateway,
    paise_to_rupees,
    rupees_to_paise,
)
from protocols.gateways.interface import (
    GatewayCredentials,
    OrderRequest,
    OrderStatus,
    PaymentGateway,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
)
from protocols.gateways.razorpay_adapter import RazorpayGateway

BODY = web.RequestKey("body", object)
ACCOUNT = web.RequestKey("account", str)
TENANT_A = ("tenant_a_key", "tenant-a-secret")
TENANT_B = ("tenant_b_key", "tenant-b-secret")
_serial = itertools.count(5_114_910)


@dataclass
class Seen:
    key_id: str
    key_secret: str
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Fault:
    status: int
    body: str
    content_type: str = "application/json"


@dataclass
class Stub:
    """What both stubs share: who may call, what they sent, injected faults and delays."""

    accounts: dict[str, str]
    seen: list[Seen] = field(default_factory=list)
    fault: Fault | None = None
    delay_secs: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0

    def credentials(self, request: web.Request) -> tuple[str, str]:
        raise NotImplementedError

    def unauthorized(self) -> web.Response:
        raise NotImplementedError

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        key_id, key_secret = self.credentials(request)
        raw = await request.read()
        body = json.loads(raw, parse_float=Decimal) if raw else None
        self.seen.append(
            Seen(key_id, key_secret, request.method, request.path, body, dict(request.headers))
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_secs:
                await asyncio.sleep(self.delay_secs)
            if self.accounts.get(key_id) != key_secret:
                return self.unauthorized()
            if self.fault is not None:
                return web.Response(
                    status=self.fault.status,
                    text=self.fault.body,
                    content_type=self.fault.content_type,
                )
            request[BODY] = body
            request[ACCOUNT] = key_id
            return await handler(request)
        finally:
            self.in_flight -= 1

    def posts(self, suffix: str) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST" and s.path.endswith(suffix)]


class RazorpayStub(Stub):
    def __init__(self, accounts: dict[str, str]) -> None:
        super().__init__(accounts)
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.refunds: dict[str, dict[str, Any]] = {}

    def credentials(self, request: web.Request) -> tuple[str, str]:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return "", ""
        key_id, _, key_secret = base64.b64decode(encoded).decode().partition(":")
        return key_id, key_secret

    def unauthorized(self) -> web.Response:
        return razorpay_error(401, "BAD_REQUEST_ERROR", "Authentication failed")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware])
        app.router.add_post("/v1/orders", self.create_order)
        app.router.add_get("/v1/orders/{order_id}", self.fetch_order)
        app.router.add_get("/v1/orders/{order_id}/payments", self.order_payments)
        app.router.add_post("/v1/payments/{payment_id}/refund", self.create_refund)
        app.router.add_get("/v1/payments/{payment_id}/refunds", self.payment_refunds)
        app.router.add_get("/v1/refunds/{refund_id}", self.fetch_refund)
        return app

    async def create_order(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if int(body["amount"]) < 100:
            return razorpay_error(400, "BAD_REQUEST_ERROR", "The amount must be atleast INR 1.00")
        order_id = "order_" + secrets.token_hex(7)
        self.orders[order_id] = {
            "id": order_id,
            "entity": "order",
            "amount": int(body["amount"]),
            "amount_paid": 0,
            "amount_due": int(body["amount"]),
            "currency": body["currency"],
            "receipt": body["receipt"],
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": body.get("notes") or [],
            "created_at": int(time.time()),
        }
        return web.json_response(self.orders[order_id])

    async def fetch_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return razorpay_error(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        return web.json_response(order)

    async def order_payments(self, request: web.Request) -> web.Response:
        items = self.payments[request.match_info["order_id"]]
        return web.json_response({"entity": "collection", "count": len(items), "items": items})

    def pay(self, order_id: str, *, status: str = "captured") -> dict[str, Any]:
        order = self.orders[order_id]
        payment = {
            "id": "pay_" + secrets.token_hex(7),
            "entity": "payment",
            "amount": order["amount"],
            "currency": "INR",
            "status": status,
            "order_id": order_id,
            "invoice_id": None,
            "international": False,
            "method": "upi",
            "amount_refunded": 0,
            "refund_status": None,
            "captured": status == "captured",
            "description": None,
            "vpa": "success@razorpay",
            "email": "devotee@example.com",
            "contact": "+919876543210",
            "notes": [],
            "fee": 2 * order["amount"] // 100,
            "tax": 0,
            "error_code": None if status == "captured" else "BAD_REQUEST_ERROR",
            "error_description": None if status == "captured" else "Payment was declined",
            "acquirer_data": {"rrn": "123456789012"},
            "created_at": int(time.time()),
        }
        self.payments[order_id].append(payment)
        if status == "captured":
            order.update(status="paid", amount_paid=order["amount"], amount_due=0, attempts=1)
        return payment

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        for items in self.payments.values():
            for payment in items:
                if payment["id"] == payment_id:
                    return payment
        return None

    async def create_refund(self, request: web.Request) -> web.Response:
        payment = self.payment(request.match_info["payment_id"])
        body = request[BODY]
        if payment is None:
            return razorpay_error(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        if int(body["amount"]) > payment["amount"] - payment["amount_refunded"]:
            return razorpay_error(
                400,
                "BAD_REQUEST_ERROR",
                "The refund amount provided is greater than amount captured",
            )
        refund_id = "rfnd_" + secrets.token_hex(7)
        payment["amount_refunded"] += int(body["amount"])
        self.refunds[refund_id] = {
            "id": refund_id,
            "entity": "refund",
            "amount": int(body["amount"]),
            "currency": "INR",
            "payment_id": payment["id"],
            "notes": body.get("notes") or [],
            "receipt": body.get("receipt"),
            "acquirer_data": {"arn": None},
            "created_at": int(time.time()),
            "batch_id": None,
            "status": "processed",
            "speed_processed": "normal",
            "speed_requested": "normal",
        }
        return web.json_response(self.refunds[refund_id])

    async def payment_refunds(self, request: web.Request) -> web.Response:
        payment_id = request.match_info["payment_id"]
        items = [r for r in self.refunds.values() if r["payment_id"] == payment_id]
        return web.json_response({"entity": "collection", "count": len(items), "items": items})

    async def fetch_refund(self, request: web.Request) -> web.Response:
        refund = self.refunds.get(request.match_info["refund_id"])
        if refund is None:
            return razorpay_error(400, "BAD_REQUEST_ERROR", "The id provided does not exist")
        return web.json_response(refund)


def razorpay_error(status: int, code: str, description: str) -> web.Response:
    body = {
        "error": {
            "code": code,
            "description": description,
            "source": "business" if status < 500 else "internal",
            "step": "payment_initiation",
            "reason": "input_validation_failed" if status < 500 else "server_error",
            "metadata": {},
        }
    }
    return web.json_response(body, status=status)


class CashfreeStub(Stub):
    def __init__(self, accounts: dict[str, str]) -> None:
        super().__init__(accounts)
        self.orders: dict[tuple[str, str], dict[str, Any]] = {}
        self.payments: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.refunds: dict[tuple[str, str, str], dict[str, Any]] = {}

    def credentials(self, request: web.Request) -> tuple[str, str]:
        return request.headers.get("x-client-id", ""), request.headers.get("x-client-secret", "")

    def unauthorized(self) -> web.Response:
        return cashfree_error(
            401, "request_failed", "authentication Failed", "authentication_error"
        )

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware])
        app.router.add_post("/pg/orders", self.create_order)
        app.router.add_get("/pg/orders/{order_id}", self.fetch_order)
        app.router.add_get("/pg/orders/{order_id}/payments", self.order_payments)
        app.router.add_post("/pg/orders/{order_id}/refunds", self.create_refund)
        app.router.add_get("/pg/orders/{order_id}/refunds/{refund_id}", self.fetch_refund)
        return app

    async def create_order(self, request: web.Request) -> web.Response:
        body = request[BODY]
        key = (request[ACCOUNT], body["order_id"])
        if body["order_amount"] < 1:
            return cashfree_error(400, "order_amount_invalid", "order_amount : invalid value")
        if key in self.orders:
            return cashfree_error(409, "order_already_exists", "order with same id is present")
        customer = body["customer_details"]
        self.orders[key] = {
            "cf_order_id": str(next(_serial)),
            "created_at": "2026-03-01T16:00:00+05:30",
            "customer_details": {
                "customer_id": customer["customer_id"],
                "customer_name": customer.get("customer_name"),
                "customer_email": customer.get("customer_email"),
                "customer_phone": customer["customer_phone"],
                "customer_uid": None,
            },
            "entity": "order",
            "order_amount": float(body["order_amount"]),
            "order_currency": body["order_currency"],
            "order_expiry_time": "2026-03-31T16:00:00+05:30",
            "order_id": body["order_id"],
            "order_meta": {"return_url": None, "notify_url": None, "payment_methods": None},
            "order_note": None,
            "order_splits": [],
            "order_status": "ACTIVE",
            "order_tags": body.get("order_tags"),
            "payment_session_id": "session_" + secrets.token_urlsafe(24),
            "terminal_data": None,
        }
        return web.json_response(self.orders[key])

    async def fetch_order(self, request: web.Request) -> web.Response:
        order = self.orders.get((request[ACCOUNT], request.match_info["order_id"]))
        if order is None:
            return cashfree_error(404, "order_not_found", "order does not exist")
        return web.json_response(order)

    async def order_payments(self, request: web.Request) -> web.Response:
        return web.json_response(self.payments[(request[ACCOUNT], request.match_info["order_id"])])

    def pay(self, account: str, order_id: str, *, status: str = "SUCCESS") -> dict[str, Any]:
        order = self.orders[(account, order_id)]
        failed = status != "SUCCESS"
        payment = {
            # A number, as Cashfree sends it in places; the SDK's model wants a string.
            "cf_payment_id": next(_serial),
            "order_id": order_id,
            "entity": "payment",
            "error_details": {
                "error_code": "TRANSACTION_DECLINED",
                "error_description": "issuer bank declined the transaction",
                "error_reason": "auth_declined",
                "error_source": "customer",
            }
            if failed
            else None,
            "is_captured": not failed,
            "order_amount": order["order_amount"],
            "payment_group": "upi",
            "payment_currency": "INR",
            "payment_amount": order["order_amount"],
            "payment_time": "2026-03-01T16:01:00+05:30",
            "payment_completion_time": "2026-03-01T16:01:09+05:30",
            "payment_status": status,
            "payment_message": "Transaction failed" if failed else "Transaction successful",
            "bank_reference": "P78112898712",
            "auth_id": None,
            "authorization": None,
            "payment_method": {"upi": {"channel": "collect", "upi_id": "devotee@okaxis"}},
        }
        self.payments[(account, order_id)].append(payment)
        if not failed:
            order["order_status"] = "PAID"
        return payment

    async def create_refund(self, request: web.Request) -> web.Response:
        account, order_id = request[ACCOUNT], request.match_info["order_id"]
        body = request[BODY]
        order = self.orders.get((account, order_id))
        if order is None:
            return cashfree_error(404, "order_not_found", "order does not exist")
        key = (account, order_id, body["refund_id"])
        if key in self.refunds:
            return cashfree_error(409, "refund_already_exists", "refund with same id exists")
        paid = [p for p in self.payments[(account, order_id)] if p["payment_status"] == "SUCCESS"]
        if not paid:
            return cashfree_error(400, "refund_invalid", "order is not paid")
        self.refunds[key] = {
            "cf_payment_id": str(paid[0]["cf_payment_id"]),
            "cf_refund_id": str(next(_serial)),
            "order_id": order_id,
            "refund_id": body["refund_id"],
            "entity": "refund",
            "refund_amount": float(body["refund_amount"]),
            "refund_currency": "INR",
            "refund_note": body.get("refund_note"),
            "refund_status": "PENDING",
            "refund_arn": None,
            "refund_charge": 0,
            "status_description": "In Progress",
            "metadata": None,
            "refund_splits": [],
            "refund_type": "MERCHANT_INITIATED",
            "refund_mode": "STANDARD",
            "created_at": "2026-03-01T16:05:00+05:30",
            "processed_at": None,
            "refund_speed": {
                "requested": "STANDARD",
                "accepted": "STANDARD",
                "processed": None,
                "message": None,
            },
        }
        return web.json_response(self.refunds[key])

    async def fetch_refund(self, request: web.Request) -> web.Response:
        key = (request[ACCOUNT], request.match_info["order_id"], request.match_info["refund_id"])
        refund = self.refunds.get(key)
        if refund is None:
            return cashfree_error(404, "refund_not_found", "refund does not exist")
        return web.json_response(refund)


def cashfree_error(
    status: int, code: str, message: str, kind: str = "invalid_request_error"
) -> web.Response:
    body = {"message": message, "code": code, "type": "api_error" if status >= 500 else kind}
    return web.json_response(body, status=status)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def razorpay_stub() -> AsyncIterator[tuple[RazorpayStub, str]]:
    stub = RazorpayStub(dict([TENANT_A, TENANT_B]))
    runner, url = await serve(stub.app())
    yield stub, url
    await runner.cleanup()


@pytest.fixture
async def cashfree_stub() -> AsyncIterator[tuple[CashfreeStub, str]]:
    stub = CashfreeStub(dict([TENANT_A, TENANT_B]))
    runner, url = await serve(stub.app())
    yield stub, f"{url}/pg"
    await runner.cleanup()


def creds(tenant: tuple[str, str], base_url: str) -> GatewayCredentials:
    return GatewayCredentials(key_id=tenant[0], key_secret=SecretStr(tenant[1]), base_url=base_url)


def order_request(attempt_id: str, amount_paise: int = 1015) -> OrderRequest:
    return OrderRequest(
        attempt_id=attempt_id,
        amount_paise=amount_paise,
        customer_id="devotee42",
        customer_phone="9876543210",
        customer_email="devotee@example.com",
        customer_name="Devotee Sharma",
        notes={"hold_id": "hold-1"},
    )


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- round trips -----------------------------------------------------------------------------


async def test_razorpay_create_fetch_pay_refund_round_trip(razorpay_stub):
    stub, url = razorpay_stub
    gateway = RazorpayGateway(creds(TENANT_A, url))
    try:
        assert isinstance(gateway, PaymentGateway)
        order = await gateway.create_order(order_request("att-rzp-1", 59_900))
        assert order.gateway == "razorpay"
        assert order.gateway_order_id.startswith("order_")
        assert (order.attempt_id, order.amount_paise, order.currency) == (
            "att-rzp-1",
            59_900,
            "INR",
        )
        assert order.status is OrderStatus.CREATED
        assert order.checkout_token is None
        sent = stub.posts("/v1/orders")[0].body
        assert sent["amount"] == 59_900 and sent["receipt"] == "att-rzp-1"
        assert sent["payment_capture"] == 1 and sent["notes"] == {"hold_id": "hold-1"}

        assert await gateway.fetch_payments(order.gateway_order_id) == []
        stub.pay(order.gateway_order_id, status="failed")
        captured = stub.pay(order.gateway_order_id)
        assert (await gateway.fetch_order(order.gateway_order_id)).status is OrderStatus.PAID
        payments = await gateway.fetch_payments(order.gateway_order_id)
        assert [p.status for p in payments] == [PaymentStatus.FAILED, PaymentStatus.CAPTURED]
        assert payments[0].error_description == "Payment was declined"
        assert payments[1].gateway_payment_id == captured["id"]
        assert (payments[1].amount_paise, payments[1].method) == (59_900, "upi")

        request = RefundRequest(
            refund_id="rf-1",
            gateway_order_id=order.gateway_order_id,
            gateway_payment_id=captured["id"],
            amount_paise=10_000,
        )
        refund = await gateway.refund(request)
        assert refund.gateway_refund_id.startswith("rfnd_")
        assert (refund.refund_id, refund.amount_paise) == ("rf-1", 10_000)
        assert refund.status is RefundStatus.PROCESSED
        # A retry after, say, a timeout finds the first refund instead of refunding twice.
        assert await gateway.refund(request) == refund
        assert len(stub.posts("/refund")) == 1
        fetched = await gateway.fetch_refund(
            gateway_order_id=order.gateway_order_id, gateway_refund_id=refund.gateway_refund_id
        )
        assert fetched == refund
    finally:
        await gateway.aclose()


async def test_cashfree_create_fetch_pay_refund_round_trip(cashfree_stub):
    stub, url = cashfree_stub
    gateway = CashfreeGateway(creds(TENANT_A, url))
    try:
        assert isinstance(gateway, PaymentGateway)
        order = await gateway.create_order(order_request("att-cf-1", 1015))
        assert order.gateway == "cashfree"
        assert order.gateway_order_id == order.attempt_id == "att-cf-1"
        assert (order.amount_paise, order.status) == (1015, OrderStatus.CREATED)
        assert order.checkout_token and order.checkout_token.startswith("session_")
        post = stub.posts("/pg/orders")[0]
        assert post.body["order_amount"] == Decimal("10.15")  # exactly, on the wire
        assert post.body["customer_details"]["customer_phone"] == "9876543210"
        assert post.body["order_tags"] == {"hold_id": "hold-1"}
        assert post.headers["x-api-version"] == Cashfree.XApiVersion
        assert post.headers["x-idempotency-key"]

        stub.pay(TENANT_A[0], "att-cf-1", status="FAILED")
        paid = stub.pay(TENANT_A[0], "att-cf-1")
        assert (await gateway.fetch_order("att-cf-1")).status is OrderStatus.PAID
        payments = await gateway.fetch_payments("att-cf-1")
        assert [p.status for p in payments] == [PaymentStatus.FAILED, PaymentStatus.CAPTURED]
        assert payments[0].error_code == "TRANSACTION_DECLINED"
        assert payments[1].gateway_payment_id == str(paid["cf_payment_id"])
        assert (payments[1].amount_paise, payments[1].method) == (1015, "upi")

        request = RefundRequest(
            refund_id="rf-1",
            gateway_order_id="att-cf-1",
            gateway_payment_id=payments[1].gateway_payment_id,
            amount_paise=515,
            note="slot cancelled",
        )
        refund = await gateway.refund(request)
        assert (refund.gateway_refund_id, refund.amount_paise) == ("rf-1", 515)
        assert refund.status is RefundStatus.PENDING
        assert stub.posts("/refunds")[0].body["refund_amount"] == Decimal("5.15")
        # Repeating the refund id: Cashfree answers 409, the adapter returns the first refund.
        assert await gateway.refund(request) == refund
        with pytest.raises(Conflict):
            await gateway.refund(
                RefundRequest(
                    refund_id="rf-1",
                    gateway_order_id="att-cf-1",
                    gateway_payment_id=refund.gateway_payment_id or "",
                    amount_paise=999,
                )
            )
        # FAILED is documented but refused by cashfree-pg 6.0.1's own RefundEntity.
        stub.refunds[(TENANT_A[0], "att-cf-1", "rf-1")]["refund_status"] = "FAILED"
        fetched = await gateway.fetch_refund(gateway_order_id="att-cf-1", gateway_refund_id="rf-1")
        assert fetched.status is RefundStatus.FAILED
    finally:
        await gateway.aclose()


async def test_cashfree_creating_an_attempt_twice_returns_the_first_order(cashfree_stub):
    stub, url = cashfree_stub
    gateway = CashfreeGateway(creds(TENANT_A, url))
    try:
        first = await gateway.create_order(order_request("att-cf-2", 50_000))
        again = await gateway.create_order(order_request("att-cf-2", 50_000))
        assert again == first
        with pytest.raises(Conflict):
            await gateway.create_order(order_request("att-cf-2", 60_000))
        assert len(stub.orders) == 1
    finally:
        await gateway.aclose()


def test_cashfree_amounts_convert_exactly_between_paise_and_rupees():
    for paise in [*range(0, 20_001), *range(20_001, 10**7, 997), 10**12 + 1, 123_456_789_012_345]:
        on_the_wire = json.loads(json.dumps(paise_to_rupees(paise)))
        assert Decimal(json.dumps(paise_to_rupees(paise))) * 100 == paise
        assert rupees_to_paise(on_the_wire) == paise
    with pytest.raises(GatewayUnavailable):
        rupees_to_paise(10.155)
    with pytest.raises(GatewayUnavailable):
        rupees_to_paise("10.15")


# -- error translation -----------------------------------------------------------------------


def make_gateway(kind: str, url: str, **options: Any) -> PaymentGateway:
    if kind == "razorpay":
        return RazorpayGateway(creds(TENANT_A, url), **options)
    return CashfreeGateway(creds(TENANT_A, url), **options)


@pytest.fixture(params=["razorpay", "cashfree"])
def any_stub(request, razorpay_stub, cashfree_stub) -> tuple[str, Stub, str]:
    stub, url = razorpay_stub if request.param == "razorpay" else cashfree_stub
    return request.param, stub, url


SERVER_ERRORS = {
    "razorpay": json.dumps({"error": {"code": "SERVER_ERROR", "description": "internal"}}),
    "cashfree": json.dumps({"message": "internal", "code": "internal_error", "type": "api_error"}),
}
BAD_REQUESTS = {
    "razorpay": json.dumps(
        {"error": {"code": "BAD_REQUEST_ERROR", "description": "receipt is too long"}}
    ),
    "cashfree": json.dumps(
        {
            "message": "order_id : invalid",
            "code": "order_id_invalid",
            "type": "invalid_request_error",
        }
    ),
}


async def test_gateway_500_is_gateway_unavailable(any_stub):
    kind, stub, url = any_stub
    stub.fault = Fault(500, SERVER_ERRORS[kind])
    gateway = make_gateway(kind, url)
    try:
        with pytest.raises(GatewayUnavailable) as exc_info:
            await gateway.create_order(order_request("att-500"))
        assert exc_info.value.details["reason"] == "server_error"
        assert exc_info.value.__cause__ is not None
    finally:
        await gateway.aclose()


async def test_gateway_502_html_page_is_gateway_unavailable(any_stub):
    kind, stub, url = any_stub
    stub.fault = Fault(502, "<html><body>Bad Gateway</body></html>", "text/html")
    gateway = make_gateway(kind, url)
    try:
        with pytest.raises(GatewayUnavailable):
            await gateway.fetch_order("order_X1")
    finally:
        await gateway.aclose()


async def test_gateway_400_is_gateway_rejected(any_stub):
    kind, stub, url = any_stub
    stub.fault = Fault(400, BAD_REQUESTS[kind])
    gateway = make_gateway(kind, url)
    try:
        with pytest.raises(GatewayRejected) as exc_info:
            await gateway.create_order(order_request("att-400"))
        assert exc_info.value.http_status == 422
    finally:
        await gateway.aclose()


async def test_wrong_credentials_are_gateway_rejected(any_stub):
    kind, _, url = any_stub
    credentials = GatewayCredentials(
        key_id=TENANT_A[0], key_secret=SecretStr("wrong"), base_url=url
    )
    gateway = RazorpayGateway(credentials) if kind == "razorpay" else CashfreeGateway(credentials)
    try:
        with pytest.raises(GatewayRejected):
            await gateway.create_order(order_request("att-401"))
    finally:
        await gateway.aclose()


async def test_connection_refused_is_gateway_unavailable(any_stub):
    kind, _, _ = any_stub
    dead = f"http://127.0.0.1:{refused_port()}" + ("/pg" if kind == "cashfree" else "")
    gateway = make_gateway(kind, dead)
    try:
        with pytest.raises(GatewayUnavailable) as exc_info:
            await gateway.create_order(order_request("att-refused"))
        assert exc_info.value.details["reason"] == "unreachable"
    finally:
        await gateway.aclose()


async def test_request_timeout_is_gateway_unavailable(any_stub):
    kind, stub, url = any_stub
    stub.delay_secs = 0.6
    gateway = make_gateway(kind, url, request_timeout_secs=0.2, deadline_secs=5)
    try:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as exc_info:
            await gateway.create_order(order_request("att-slow"))
        assert exc_info.value.details["reason"] == "timeout"
        assert time.monotonic() - started < 0.55
    finally:
        await gateway.aclose()


async def test_deadline_bounds_the_await_even_when_the_sdk_timeout_is_longer(any_stub):
    kind, stub, url = any_stub
    stub.delay_secs = 1.0
    gateway = make_gateway(kind, url, request_timeout_secs=5, deadline_secs=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as exc_info:
            await gateway.fetch_payments("order_X1")
        assert exc_info.value.details["reason"] == "deadline"
        assert time.monotonic() - started < 0.9
    finally:
        await gateway.aclose()


async def test_razorpay_gateway_error_is_payment_declined(razorpay_stub):
    stub, url = razorpay_stub
    stub.fault = Fault(
        502, json.dumps({"error": {"code": "GATEWAY_ERROR", "description": "bank declined"}})
    )
    gateway = RazorpayGateway(creds(TENANT_A, url))
    try:
        with pytest.raises(PaymentDeclined) as exc_info:
            await gateway.create_order(order_request("att-declined"))
        assert exc_info.value.http_status == 402
    finally:
        await gateway.aclose()


async def test_razorpay_refund_above_the_captured_amount_is_gateway_rejected(razorpay_stub):
    stub, url = razorpay_stub
    gateway = RazorpayGateway(creds(TENANT_A, url))
    try:
        order = await gateway.create_order(order_request("att-over", 10_000))
        payment = stub.pay(order.gateway_order_id)
        with pytest.raises(GatewayRejected):
            await gateway.refund(
                RefundRequest(
                    refund_id="rf-over",
                    gateway_order_id=order.gateway_order_id,
                    gateway_payment_id=payment["id"],
                    amount_paise=10_001,
                )
            )
    finally:
        await gateway.aclose()


async def test_cashfree_unknown_order_is_not_found(cashfree_stub):
    _, url = cashfree_stub
    gateway = CashfreeGateway(creds(TENANT_A, url))
    try:
        with pytest.raises(NotFound) as exc_info:
            await gateway.fetch_order("att-never-created")
        assert exc_info.value.details["gateway_code"] == "order_not_found"
    finally:
        await gateway.aclose()


async def test_cashfree_refuses_bad_customer_details_before_sending(cashfree_stub):
    stub, url = cashfree_stub
    gateway = CashfreeGateway(creds(TENANT_A, url))
    bad = OrderRequest(
        attempt_id="att-bad-phone", amount_paise=10_000, customer_id="c1x", customer_phone="123"
    )
    try:
        with pytest.raises(GatewayRejected):
            await gateway.create_order(bad)
        assert stub.seen == []
    finally:
        await gateway.aclose()


# -- concurrency: the event loop, the bounded pool, tenants' credentials ---------------------


async def test_sdk_calls_never_block_the_event_loop(any_stub):
    kind, stub, url = any_stub
    stub.delay_secs = 0.3
    gateway = make_gateway(kind, url, max_workers=4)
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    try:
        await asyncio.gather(
            *(gateway.create_order(order_request(f"att-loop-{i}")) for i in range(8))
        )
    finally:
        done.set()
        await beat
        await gateway.aclose()
    assert max(gaps) < 0.25, max(gaps)  # a call on the loop would stall it for >= 0.3 s


async def test_thread_pool_bounds_concurrent_gateway_calls(any_stub):
    kind, stub, url = any_stub
    stub.delay_secs = 0.1
    gateway = make_gateway(kind, url, max_workers=2)
    try:
        await asyncio.gather(
            *(gateway.create_order(order_request(f"att-pool-{i}")) for i in range(8))
        )
    finally:
        await gateway.aclose()
    assert len(stub.posts("/orders")) == 8
    assert stub.max_in_flight == 2


async def test_a_shared_pool_outlives_an_adapter_and_an_owned_one_does_not(cashfree_stub):
    _, url = cashfree_stub
    with ThreadPoolExecutor(max_workers=2) as shared:
        borrower = CashfreeGateway(creds(TENANT_A, url), executor=shared)
        await borrower.create_order(order_request("att-shared-1"))
        await borrower.aclose()
        assert shared.submit(lambda: 42).result() == 42
    owner = CashfreeGateway(creds(TENANT_A, url))
    await owner.create_order(order_request("att-owned-1"))
    await owner.aclose()
    with pytest.raises(RuntimeError):  # its own pool is shut down: a bug to call it again
        await owner.create_order(order_request("att-owned-2"))


async def pay_concurrently(
    gateways: dict[tuple[str, str], PaymentGateway], per_tenant: int
) -> dict[str, list[Any]]:
    """Every tenant creates ``per_tenant`` orders, all interleaved and in flight at once."""
    calls: list[tuple[str, Awaitable[Any]]] = []
    for i in range(per_tenant):
        for (key_id, _), gateway in gateways.items():
            calls.append((key_id, gateway.create_order(order_request(f"{key_id}-att-{i}"))))
    results = await asyncio.gather(*(call for _, call in calls))
    by_tenant: dict[str, list[Any]] = defaultdict(list)
    for (key_id, _), result in zip(calls, results, strict=True):
        by_tenant[key_id].append(result)
    return by_tenant


async def test_two_cashfree_tenants_paying_at_once_never_swap_credentials(cashfree_stub):
    stub, url = cashfree_stub
    stub.delay_secs = 0.005  # keep many requests in flight together
    default_client, default_config = ApiClient._default, Configuration._default
    with ThreadPoolExecutor(max_workers=16) as pool:
        gateways: dict[tuple[str, str], PaymentGateway] = {
            tenant: CashfreeGateway(creds(tenant, url), executor=pool, max_workers=16)
            for tenant in (TENANT_A, TENANT_B)
        }
        try:
            by_tenant = await pay_concurrently(gateways, per_tenant=50)
        finally:
            for gateway in gateways.values():
                await gateway.aclose()

    creates = stub.posts("/pg/orders")
    assert len(creates) == 100
    assert stub.max_in_flight > 2, "the calls did not overlap; the test proves nothing"
    secrets_by_key = dict([TENANT_A, TENANT_B])
    for seen in creates:
        # Each request carried one tenant's id *and* that tenant's secret, for that tenant's order.
        assert seen.key_secret == secrets_by_key[seen.key_id]
        assert seen.body["order_id"].startswith(f"{seen.key_id}-att-")
    for key_id, orders in by_tenant.items():
        assert sorted(o.attempt_id for o in orders) == sorted(
            f"{key_id}-att-{i}" for i in range(50)
        )
        assert all((key_id, o.attempt_id) in stub.orders for o in orders)
    # The SDK's process-wide client and configuration were never touched.
    assert ApiClient._default is default_client
    assert Configuration._default is default_config


async def test_two_razorpay_tenants_paying_at_once_never_swap_credentials(razorpay_stub):
    stub, url = razorpay_stub
    stub.delay_secs = 0.005
    with ThreadPoolExecutor(max_workers=16) as pool:
        gateways: dict[tuple[str, str], PaymentGateway] = {
            tenant: RazorpayGateway(creds(tenant, url), executor=pool)
            for tenant in (TENANT_A, TENANT_B)
        }
        try:
            by_tenant = await pay_concurrently(gateways, per_tenant=50)
        finally:
            for gateway in gateways.values():
                await gateway.aclose()

    creates = stub.posts("/v1/orders")
    assert len(creates) == 100
    assert stub.max_in_flight > 2
    secrets_by_key = dict([TENANT_A, TENANT_B])
    for seen in creates:
        assert seen.key_secret == secrets_by_key[seen.key_id]
        assert seen.body["receipt"].startswith(f"{seen.key_id}-att-")
    for key_id, orders in by_tenant.items():
        assert len({o.gateway_order_id for o in orders}) == 50
        assert all(o.attempt_id.startswith(f"{key_id}-att-") for o in orders)
