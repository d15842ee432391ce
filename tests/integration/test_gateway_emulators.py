"""The local Razorpay and Cashfree emulators, driven by the official SDKs, unchanged.

The SDKs block (requests / urllib3), so every call runs in ``asyncio.to_thread``. Webhooks go to
a real local aiohttp receiver and are checked with the SDKs' own signature verification.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import razorpay
import requests
import urllib3
from aiohttp import web
from cashfree_pg.api_client import ApiClient, Cashfree
from cashfree_pg.exceptions import (
    ApiException,
    BadRequestException,
    NotFoundException,
    ServiceException,
    UnauthorizedException,
)
from cashfree_pg.models.create_order_request import CreateOrderRequest
from cashfree_pg.models.customer_details import CustomerDetails
from cashfree_pg.models.order_create_refund_request import OrderCreateRefundRequest
from cashfree_pg.models.payment_webhook import PaymentWebhook
from cashfree_pg.models.refund_webhook import RefundWebhook
from razorpay.errors import BadRequestError, ServerError

from protocols.gateways.emulators import (
    CashfreeEmulatorConfig,
    CashfreeMerchant,
    RazorpayEmulatorConfig,
    RazorpayMerchant,
    create_cashfree_emulator,
    create_razorpay_emulator,
    run_emulator,
)

pytestmark = pytest.mark.timeout(30)

RZP_A = RazorpayMerchant(key_id="rzp_test_A", key_secret="secret-A", webhook_secret="whsec-A")
RZP_B = RazorpayMerchant(key_id="rzp_test_B", key_secret="secret-B", webhook_secret="whsec-B")
CF_A = CashfreeMerchant(client_id="cf_client_A", client_secret="cf-secret-A")
CF_B = CashfreeMerchant(client_id="cf_client_B", client_secret="cf-secret-B")


# --- a real webhook receiver -------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    reject_first: int = 0  # answer 500 to this many deliveries first

    async def handle(self, request: web.Request) -> web.Response:
        if self.reject_first > 0:
            self.reject_first -= 1
            return web.Response(status=500)
        self.received.append(Received(dict(request.headers), await request.text()))
        return web.Response(text="ok")

    async def wait_for(
        self, done: Callable[[list[Received]], bool], timeout_secs: float = 5.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout_secs
        while not done(self.received):
            if time.monotonic() > deadline:
                raise AssertionError(f"webhooks not received in time: {self.events()}")
            await asyncio.sleep(0.02)
        return self.received

    def events(self) -> list[str]:
        return [r.json.get("event") or r.json["type"] for r in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooks = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", hooks.handle)
    async with run_emulator(app) as url:
        hooks.url = f"{url}/hooks"
        yield hooks


async def control(base_url: str, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{base_url}{path}", json=body) as response,
    ):
        answer = await response.json()
        assert response.status == 200, answer
        return answer


# --- Razorpay ------------------------------------------------------------------------------


@pytest.fixture
async def rzp(receiver: Receiver) -> AsyncIterator[str]:
    merchant_a = RZP_A.model_copy(update={"webhook_url": receiver.url})
    config = RazorpayEmulatorConfig(merchants=(merchant_a,))
    async with run_emulator(create_razorpay_emulator(config)) as url:
        # B is registered through the control API, as a test or the CLI would
        await control(url, "POST", "/_emulator/merchants", RZP_B.model_dump())
        yield url


def rzp_client(base_url: str, merchant: RazorpayMerchant = RZP_A) -> razorpay.Client:
    return razorpay.Client(auth=(merchant.key_id, merchant.key_secret), base_url=base_url)


def check_razorpay_signatures(received: list[Received], webhook_secret: str) -> None:
    utility = razorpay.Utility()
    for hook in received:
        signature = hook.headers["X-Razorpay-Signature"]
        assert utility.verify_webhook_signature(hook.body, signature, webhook_secret)
        assert hook.headers["X-Razorpay-Event-Id"]


async def test_razorpay_sdk_walks_checkout_and_refunds_with_signed_webhooks(
    rzp: str, receiver: Receiver
) -> None:
    client = rzp_client(rzp)
    order = await asyncio.to_thread(
        client.order.create, {"amount": 50_000, "currency": "INR", "receipt": "hold-1"}
    )
    assert (order["status"], order["amount_due"], order["notes"]) == ("created", 50_000, [])

    checkout = await control(rzp, "POST", f"/_emulator/orders/{order['id']}/pay")
    assert checkout["razorpay_order_id"] == order["id"]
    assert client.utility.verify_payment_signature(
        {k: checkout[k] for k in ("razorpay_order_id", "razorpay_payment_id", "razorpay_signature")}
    )
    payment_id = checkout["razorpay_payment_id"]

    fetched = await asyncio.to_thread(client.order.fetch, order["id"])
    assert (fetched["status"], fetched["amount_paid"], fetched["attempts"]) == ("paid", 50_000, 1)
    payments = await asyncio.to_thread(client.order.payments, order["id"])
    assert [(p["id"], p["status"]) for p in payments["items"]] == [(payment_id, "captured")]

    partial = await asyncio.to_thread(
        client.payment.refund, payment_id, {"amount": 20_000, "receipt": "r-1"}
    )
    assert (partial["amount"], partial["status"]) == (20_000, "processed")
    with pytest.raises(BadRequestError, match="greater than amount captured"):
        await asyncio.to_thread(client.payment.refund, payment_id, {"amount": 30_001})
    rest = await asyncio.to_thread(client.payment.refund, payment_id, {})  # no amount: the rest
    assert rest["amount"] == 30_000
    with pytest.raises(BadRequestError, match="fully refunded"):
        await asyncio.to_thread(client.payment.refund, payment_id, {"amount": 100})

    payment = await asyncio.to_thread(client.payment.fetch, payment_id)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == (
        "refunded",
        50_000,
        "full",
    )
    refunds = await asyncio.to_thread(client.payment.fetch_multiple_refund, payment_id)
    assert sorted(r["amount"] for r in refunds["items"]) == [20_000, 30_000]

    received = await receiver.wait_for(lambda r: len(r) == 7)
    assert receiver.events() == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
        "refund.created",
        "refund.processed",
        "refund.created",
        "refund.processed",
    ]
    check_razorpay_signatures(received, RZP_A.webhook_secret)
    paid = received[2].json
    assert paid["payload"]["order"]["entity"]["status"] == "paid"
    assert paid["payload"]["payment"]["entity"]["id"] == payment_id
    assert received[4].json["payload"]["refund"]["entity"]["id"] == partial["id"]


async def test_razorpay_failed_attempt_leaves_the_order_payable(
    rzp: str, receiver: Receiver
) -> None:
    client = rzp_client(rzp)
    order = await asyncio.to_thread(client.order.create, {"amount": 10_000, "currency": "INR"})
    failed = await control(rzp, "POST", f"/_emulator/orders/{order['id']}/fail")
    assert failed["error"]["metadata"] == {
        "payment_id": failed["razorpay_payment_id"],
        "order_id": order["id"],
    }
    assert (await asyncio.to_thread(client.order.fetch, order["id"]))["status"] == "attempted"
    with pytest.raises(BadRequestError):  # a failed payment cannot be refunded
        await asyncio.to_thread(client.payment.refund, failed["razorpay_payment_id"], {})

    await control(rzp, "POST", f"/_emulator/orders/{order['id']}/pay")
    payments = await asyncio.to_thread(client.order.payments, order["id"])
    assert [p["status"] for p in payments["items"]] == ["failed", "captured"]
    await receiver.wait_for(lambda r: len(r) == 4)
    assert receiver.events()[0] == "payment.failed"


async def test_razorpay_merchants_see_only_their_own_orders(rzp: str) -> None:
    order = await asyncio.to_thread(
        rzp_client(rzp).order.create, {"amount": 10_000, "currency": "INR", "receipt": "same"}
    )
    other = rzp_client(rzp, RZP_B)
    with pytest.raises(BadRequestError, match="does not exist"):
        await asyncio.to_thread(other.order.fetch, order["id"])
    assert (await asyncio.to_thread(other.order.all, {"receipt": "same"}))["count"] == 0
    # duplicate receipts are allowed, as on Razorpay: a second, distinct order
    again = await asyncio.to_thread(
        rzp_client(rzp).order.create, {"amount": 10_000, "currency": "INR", "receipt": "same"}
    )
    assert again["id"] != order["id"]

    intruder = razorpay.Client(auth=(RZP_A.key_id, "wrong-secret"), base_url=rzp)
    with pytest.raises(BadRequestError, match="Authentication failed"):
        await asyncio.to_thread(intruder.order.fetch, order["id"])
    with pytest.raises(BadRequestError, match="not required"):
        await asyncio.to_thread(
            rzp_client(rzp).order.create, {"amount": 100, "currency": "INR", "amout": 1}
        )


async def test_razorpay_duplicated_and_reordered_webhooks(rzp: str, receiver: Receiver) -> None:
    client = rzp_client(rzp)
    await control(rzp, "POST", "/_emulator/webhooks/mode", {"duplicate": 3, "reorder": True})
    order = await asyncio.to_thread(client.order.create, {"amount": 10_000, "currency": "INR"})
    await control(rzp, "POST", f"/_emulator/orders/{order['id']}/pay")

    received = await receiver.wait_for(lambda r: len(r) == 9)
    per_event_id = Counter(hook.headers["X-Razorpay-Event-Id"] for hook in received)
    assert sorted(per_event_id.values()) == [3, 3, 3]
    assert receiver.events()[:3] == ["order.paid", "payment.captured", "payment.authorized"]
    check_razorpay_signatures(received, RZP_A.webhook_secret)


async def test_razorpay_held_webhooks_arrive_newest_first(rzp: str, receiver: Receiver) -> None:
    client = rzp_client(rzp)
    await control(rzp, "POST", "/_emulator/webhooks/mode", {"hold": True})
    order = await asyncio.to_thread(client.order.create, {"amount": 10_000, "currency": "INR"})
    await control(rzp, "POST", f"/_emulator/orders/{order['id']}/fail")
    await control(rzp, "POST", f"/_emulator/orders/{order['id']}/pay")
    await asyncio.sleep(0.1)
    assert receiver.received == []

    released = await control(rzp, "POST", "/_emulator/webhooks/release", {"order": "lifo"})
    assert released == {"released": 4}
    await receiver.wait_for(lambda r: len(r) == 4)
    assert receiver.events() == [
        "order.paid",
        "payment.captured",
        "payment.authorized",
        "payment.failed",
    ]


async def test_razorpay_webhooks_are_retried_until_accepted_and_dropped_ones_never_sent(
    rzp: str, receiver: Receiver
) -> None:
    client = rzp_client(rzp)
    await control(rzp, "POST", "/_emulator/webhooks/mode", {"retry_backoff_secs": 0.01})
    receiver.reject_first = 2
    order = await asyncio.to_thread(client.order.create, {"amount": 10_000, "currency": "INR"})
    await control(rzp, "POST", f"/_emulator/orders/{order['id']}/fail")
    await receiver.wait_for(lambda r: len(r) == 1)
    log = await control(rzp, "GET", "/_emulator/webhooks?event=payment.failed")
    assert [(d["attempt"], d["outcome"], d["status"]) for d in log["deliveries"]] == [
        (1, "rejected", 500),
        (2, "rejected", 500),
        (3, "delivered", 200),
    ]

    await control(rzp, "POST", "/_emulator/webhooks/mode", {"drop": True})
    await control(rzp, "POST", f"/_emulator/orders/{order['id']}/pay")
    await asyncio.sleep(0.2)
    assert receiver.events() == ["payment.failed"]
    log = await control(rzp, "GET", "/_emulator/webhooks?event=order.paid")
    assert [d["outcome"] for d in log["deliveries"]] == ["dropped"]


async def test_razorpay_fault_modes_surface_as_sdk_errors(rzp: str) -> None:
    client = rzp_client(rzp)
    await control(rzp, "POST", "/_emulator/faults", {"mode": "error_500"})
    with pytest.raises(ServerError):
        await asyncio.to_thread(client.order.create, {"amount": 10_000, "currency": "INR"})

    await control(rzp, "POST", "/_emulator/faults", {"mode": "error_once", "routes": ["POST *"]})
    with pytest.raises(ServerError):
        await asyncio.to_thread(client.order.create, {"amount": 10_000, "currency": "INR"})
    order = await asyncio.to_thread(client.order.create, {"amount": 10_000, "currency": "INR"})
    assert order["status"] == "created"

    await control(rzp, "POST", "/_emulator/faults", {"mode": "timeout", "routes": ["/v1/orders*"]})
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        await asyncio.to_thread(client.order.fetch, order["id"], timeout=0.3)
    assert time.monotonic() - started < 2
    await control(rzp, "POST", "/_emulator/faults", {})
    assert (await asyncio.to_thread(client.order.fetch, order["id"]))["id"] == order["id"]


# --- Cashfree ------------------------------------------------------------------------------


class EmulatorApiClient(ApiClient):
    """Sends every cashfree-pg call to the emulator: the SDK has no host setting, but its
    ``call_api`` takes ``_host``. (The real adapter makes its own; this one is for tests.)"""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.emulator_host = host

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["_host"] = self.emulator_host
        return super().call_api(*args, **kwargs)


@pytest.fixture
async def cf(receiver: Receiver) -> AsyncIterator[str]:
    merchant_a = CF_A.model_copy(update={"webhook_url": receiver.url})
    config = CashfreeEmulatorConfig(merchants=(merchant_a, CF_B))
    async with run_emulator(create_cashfree_emulator(config)) as url:
        yield url


@pytest.fixture
def cf_sdk(cf: str) -> Iterator[None]:
    previous = ApiClient.get_default()
    ApiClient.set_default(EmulatorApiClient(f"{cf}/pg"))
    try:
        yield
    finally:
        ApiClient.set_default(previous)


def cashfree(merchant: CashfreeMerchant = CF_A) -> Cashfree:
    return Cashfree(
        XEnvironment=Cashfree.SANDBOX,
        XClientId=merchant.client_id,
        XClientSecret=merchant.client_secret,
    )


def order_request(order_id: str, amount: float = 500.75) -> CreateOrderRequest:
    return CreateOrderRequest(
        order_id=order_id,
        order_amount=amount,
        order_currency="INR",
        customer_details=CustomerDetails(customer_id="devotee_1", customer_phone="9876543210"),
    )


def check_cashfree_signatures(received: list[Received], merchant: CashfreeMerchant) -> None:
    for hook in received:
        event = cashfree(merchant).PGVerifyWebhookSignature(
            hook.headers["x-webhook-signature"], hook.body, hook.headers["x-webhook-timestamp"]
        )
        assert event.type == hook.json["type"]


@pytest.mark.usefixtures("cf_sdk")
async def test_cashfree_sdk_walks_checkout_and_refunds_with_signed_webhooks(
    cf: str, receiver: Receiver
) -> None:
    sdk = cashfree()
    created = (await asyncio.to_thread(sdk.PGCreateOrder, order_request("booking-1"))).data
    assert (created.order_status, created.order_amount) == ("ACTIVE", 500.75)
    with pytest.raises(ApiException) as duplicate:
        await asyncio.to_thread(sdk.PGCreateOrder, order_request("booking-1"))
    assert duplicate.value.status == 409
    assert json.loads(duplicate.value.body)["code"] == "order_already_exists"

    checkout = await control(cf, "POST", f"/_emulator/orders/{created.payment_session_id}/pay")
    assert checkout["payment_status"] == "SUCCESS"
    order = (await asyncio.to_thread(sdk.PGFetchOrder, "booking-1")).data
    assert order.order_status == "PAID"
    payments = (await asyncio.to_thread(sdk.PGOrderFetchPayments, "booking-1")).data
    assert [(p.cf_payment_id, p.payment_status, p.payment_amount) for p in payments] == [
        (checkout["cf_payment_id"], "SUCCESS", 500.75)
    ]

    partial = OrderCreateRefundRequest(refund_amount=120.50, refund_id="refund-1")
    first = (
        await asyncio.to_thread(sdk.PGOrderCreateRefund, "booking-1", partial, None, "idem-1")
    ).data
    replay = (
        await asyncio.to_thread(sdk.PGOrderCreateRefund, "booking-1", partial, None, "idem-1")
    ).data
    assert (first.refund_status, replay.cf_refund_id) == ("PENDING", first.cf_refund_id)
    with pytest.raises(ApiException) as reused:
        other = OrderCreateRefundRequest(refund_amount=1, refund_id="refund-x")
        await asyncio.to_thread(sdk.PGOrderCreateRefund, "booking-1", other, None, "idem-1")
    assert reused.value.status == 422
    with pytest.raises(ApiException) as same_id:
        await asyncio.to_thread(sdk.PGOrderCreateRefund, "booking-1", partial)
    assert same_id.value.status == 409

    with pytest.raises(BadRequestException) as over:
        too_much = OrderCreateRefundRequest(refund_amount=380.26, refund_id="refund-2")
        await asyncio.to_thread(sdk.PGOrderCreateRefund, "booking-1", too_much)
    assert json.loads(over.value.body)["code"] == "refund_amount_invalid"
    rest = OrderCreateRefundRequest(refund_amount=380.25, refund_id="refund-2")
    await asyncio.to_thread(sdk.PGOrderCreateRefund, "booking-1", rest)

    received = await receiver.wait_for(lambda r: len(r) == 3)
    check_cashfree_signatures(received, CF_A)
    assert receiver.events() == [
        "PAYMENT_SUCCESS_WEBHOOK",
        "REFUND_STATUS_WEBHOOK",
        "REFUND_STATUS_WEBHOOK",
    ]
    paid = PaymentWebhook.from_dict(received[0].json)
    assert paid.data.order.order_id == "booking-1"
    assert paid.data.payment.cf_payment_id == checkout["cf_payment_id"]
    refunded = RefundWebhook.from_dict(received[1].json)
    assert (refunded.data.refund.refund_id, refunded.data.refund.refund_status) == (
        "refund-1",
        "SUCCESS",
    )
    refunds = (await asyncio.to_thread(sdk.PGOrderFetchRefunds, "booking-1")).data
    assert sorted((r.refund_amount, r.refund_status) for r in refunds) == [
        (120.5, "SUCCESS"),
        (380.25, "SUCCESS"),
    ]


@pytest.mark.usefixtures("cf_sdk")
async def test_cashfree_merchants_see_only_their_own_orders(cf: str) -> None:
    await asyncio.to_thread(cashfree(CF_A).PGCreateOrder, order_request("shared-id"))
    with pytest.raises(NotFoundException):
        await asyncio.to_thread(cashfree(CF_B).PGFetchOrder, "shared-id")
    # order ids are per merchant: B may use the same one
    await asyncio.to_thread(cashfree(CF_B).PGCreateOrder, order_request("shared-id", 99))

    async with aiohttp.ClientSession() as session:
        answer = await session.post(f"{cf}/_emulator/orders/shared-id/pay", json={})
        assert (answer.status, (await answer.json())["error"]["code"]) == (409, "ambiguous_order")
    await control(cf, "POST", "/_emulator/orders/shared-id/pay", {"client_id": CF_B.client_id})
    order_b = (await asyncio.to_thread(cashfree(CF_B).PGFetchOrder, "shared-id")).data
    order_a = (await asyncio.to_thread(cashfree(CF_A).PGFetchOrder, "shared-id")).data
    assert (order_a.order_status, order_b.order_status) == ("ACTIVE", "PAID")

    intruder = CashfreeMerchant(client_id=CF_A.client_id, client_secret="wrong")
    with pytest.raises(UnauthorizedException):
        await asyncio.to_thread(cashfree(intruder).PGFetchOrder, "shared-id")


@pytest.mark.usefixtures("cf_sdk")
async def test_cashfree_failed_and_expired_orders(cf: str, receiver: Receiver) -> None:
    sdk = cashfree()
    await asyncio.to_thread(sdk.PGCreateOrder, order_request("booking-2"))
    failed = await control(cf, "POST", "/_emulator/orders/booking-2/fail")
    assert failed["payment_status"] == "FAILED"
    assert (await asyncio.to_thread(sdk.PGFetchOrder, "booking-2")).data.order_status == "ACTIVE"
    with pytest.raises(BadRequestException):  # nothing paid, nothing to refund
        refund = OrderCreateRefundRequest(refund_amount=1, refund_id="refund-3")
        await asyncio.to_thread(sdk.PGOrderCreateRefund, "booking-2", refund)

    await control(cf, "POST", "/_emulator/orders/booking-2/expire")
    assert (await asyncio.to_thread(sdk.PGFetchOrder, "booking-2")).data.order_status == "EXPIRED"
    async with aiohttp.ClientSession() as session:
        answer = await session.post(f"{cf}/_emulator/orders/booking-2/pay", json={})
        assert answer.status == 409

    received = await receiver.wait_for(lambda r: len(r) == 1)
    check_cashfree_signatures(received, CF_A)
    webhook = PaymentWebhook.from_dict(received[0].json)
    assert (webhook.type, webhook.data.payment.payment_status) == (
        "PAYMENT_FAILED_WEBHOOK",
        "FAILED",
    )
    assert webhook.data.error_details is not None


@pytest.mark.usefixtures("cf_sdk")
async def test_cashfree_dropped_webhooks_are_not_delivered(cf: str, receiver: Receiver) -> None:
    await control(cf, "POST", "/_emulator/webhooks/mode", {"drop": True})
    await asyncio.to_thread(cashfree().PGCreateOrder, order_request("booking-3"))
    await control(cf, "POST", "/_emulator/orders/booking-3/pay")
    await asyncio.sleep(0.2)
    assert receiver.received == []
    log = await control(cf, "GET", f"/_emulator/webhooks?merchant={CF_A.client_id}")
    assert [(d["event"], d["outcome"]) for d in log["deliveries"]] == [
        ("PAYMENT_SUCCESS_WEBHOOK", "dropped")
    ]


@pytest.mark.usefixtures("cf_sdk")
async def test_cashfree_fault_modes_surface_as_sdk_errors(cf: str) -> None:
    sdk = cashfree()
    await control(cf, "POST", "/_emulator/faults", {"mode": "error_500"})
    with pytest.raises(ServiceException):
        await asyncio.to_thread(sdk.PGCreateOrder, order_request("booking-4"))

    await control(cf, "POST", "/_emulator/faults", {"mode": "timeout", "delay_secs": 10})
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError):  # ReadTimeoutError; POSTs are not retried
        await asyncio.to_thread(sdk.PGCreateOrder, order_request("booking-4"), _request_timeout=0.3)
    assert time.monotonic() - started < 2

    await control(cf, "POST", "/_emulator/faults", {})
    with pytest.raises(NotFoundException):  # neither faulty request was applied
        await asyncio.to_thread(sdk.PGFetchOrder, "booking-4")


@pytest.mark.usefixtures("cf_sdk")
async def test_cashfree_slow_request_applies_late_and_a_keyed_retry_gets_the_same_order(
    cf: str,
) -> None:
    sdk = cashfree()
    await control(cf, "POST", "/_emulator/faults", {"mode": "slow", "delay_secs": 0.4, "count": 1})
    request = order_request("booking-5")
    with pytest.raises(urllib3.exceptions.HTTPError):
        await asyncio.to_thread(sdk.PGCreateOrder, request, None, "idem-5", _request_timeout=0.1)
    await asyncio.sleep(0.5)  # the gateway acted although the client gave up

    retried = (await asyncio.to_thread(sdk.PGCreateOrder, request, None, "idem-5")).data
    fetched = (await asyncio.to_thread(sdk.PGFetchOrder, "booking-5")).data
    assert retried.cf_order_id == fetched.cf_order_id
    with pytest.raises(ApiException) as unkeyed:  # without the key it is a duplicate order_id
        await asyncio.to_thread(sdk.PGCreateOrder, request)
    assert unkeyed.value.status == 409
