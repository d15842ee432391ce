"""Webhook and checkout signatures of both gateways: exact raw bytes, constant-time comparison,
secret rotation, timestamp freshness. Signatures are computed here independently and checked
against the official SDKs' own verifiers, so the adapters agree with the gateways' maths."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
import razorpay
from cashfree_pg.api_client import Cashfree
from pydantic import SecretStr

from protocols.errors import Invalid, Unauthorized, WebhookSignatureInvalid
from protocols.gateways.cashfree_adapter import CashfreeGateway
from protocols.gateways.interface import GatewayCredentials
from protocols.gateways.razorpay_adapter import RazorpayGateway

NOW = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
KEY_SECRET = "key-secret-1"
NEW_WEBHOOK_SECRET = "whsec-new"
OLD_WEBHOOK_SECRET = "whsec-old"

RAZORPAY_BODY = json.dumps(
    {
        "entity": "event",
        "account_id": "acc_BFQ7uQEaa7j2z7",
        "event": "payment.captured",
        "contains": ["payment"],
        "payload": {
            "payment": {
                "entity": {
                    "id": "pay_DESlfW9H8K9uqM",
                    "entity": "payment",
                    "amount": 50000,
                    "currency": "INR",
                    "status": "captured",
                    "order_id": "order_DESlLckIVRkHWj",
                    "method": "upi",
                }
            }
        },
        "created_at": 1567674606,
    },
    separators=(",", ":"),
).encode()

CASHFREE_BODY = json.dumps(
    {
        "data": {
            "order": {"order_id": "att-42", "order_amount": 500.0, "order_currency": "INR"},
            "payment": {
                "cf_payment_id": 5114910,
                "payment_status": "SUCCESS",
                "payment_amount": 500.0,
                "payment_group": "upi",
            },
        },
        "event_time": "2026-03-01T16:00:00+05:30",
        "type": "PAYMENT_SUCCESS_WEBHOOK",
    }
).encode()


def creds(*webhook_secrets: str) -> GatewayCredentials:
    return GatewayCredentials(
        key_id="key_id_1",
        key_secret=SecretStr(KEY_SECRET),
        webhook_secrets=tuple(SecretStr(s) for s in webhook_secrets),
    )


def razorpay_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def cashfree_signature(timestamp: str, body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def rzp(*webhook_secrets: str) -> RazorpayGateway:
    return RazorpayGateway(creds(*webhook_secrets))


def cf(*webhook_secrets: str, tolerance_secs: int = 300) -> CashfreeGateway:
    return CashfreeGateway(creds(*webhook_secrets), webhook_tolerance_secs=tolerance_secs)


def rzp_headers(signature: str, event_id: str | None = "evt_1") -> Mapping[str, str]:
    headers = {"X-Razorpay-Signature": signature, "Content-Type": "application/json"}
    if event_id:
        headers["x-razorpay-event-id"] = event_id
    return headers


def cf_headers(signature: str, timestamp: str) -> Mapping[str, str]:
    return {"x-webhook-signature": signature, "x-webhook-timestamp": timestamp}


def reason(exc_info: pytest.ExceptionInfo[WebhookSignatureInvalid]) -> str:
    return str(exc_info.value.details["reason"])


# -- Razorpay webhooks -----------------------------------------------------------------------


def test_razorpay_webhook_with_valid_signature_parses():
    signature = razorpay_signature(RAZORPAY_BODY, NEW_WEBHOOK_SECRET)
    event = rzp(NEW_WEBHOOK_SECRET).parse_webhook(RAZORPAY_BODY, rzp_headers(signature), now=NOW)
    assert event.gateway == "razorpay"
    assert event.event_id == "evt_1"
    assert event.event_type == "payment.captured"
    assert event.gateway_order_id == "order_DESlLckIVRkHWj"
    assert event.gateway_payment_id == "pay_DESlfW9H8K9uqM"
    assert event.received_at == NOW
    assert event.payload["account_id"] == "acc_BFQ7uQEaa7j2z7"


def test_razorpay_sdk_accepts_the_signature_the_adapter_accepts():
    signature = razorpay_signature(RAZORPAY_BODY, NEW_WEBHOOK_SECRET)
    sdk = razorpay.Client(auth=("key_id_1", KEY_SECRET)).utility
    assert sdk.verify_webhook_signature(RAZORPAY_BODY.decode(), signature, NEW_WEBHOOK_SECRET)


def test_razorpay_webhook_with_altered_body_is_rejected():
    signature = razorpay_signature(RAZORPAY_BODY, NEW_WEBHOOK_SECRET)
    altered = RAZORPAY_BODY.replace(b"50000", b"90000")
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        rzp(NEW_WEBHOOK_SECRET).parse_webhook(altered, rzp_headers(signature), now=NOW)
    assert reason(exc_info) == "mismatch"


def test_razorpay_webhook_body_is_verified_byte_for_byte_not_as_json():
    # Same JSON, different bytes (whitespace): the signature no longer matches.
    signature = razorpay_signature(RAZORPAY_BODY, NEW_WEBHOOK_SECRET)
    reformatted = json.dumps(json.loads(RAZORPAY_BODY)).encode()
    assert reformatted != RAZORPAY_BODY
    with pytest.raises(WebhookSignatureInvalid):
        rzp(NEW_WEBHOOK_SECRET).parse_webhook(reformatted, rzp_headers(signature), now=NOW)


def test_razorpay_webhook_signed_with_the_wrong_secret_is_rejected():
    for wrong in ("whsec-other", KEY_SECRET):  # the key secret is not the webhook secret
        signature = razorpay_signature(RAZORPAY_BODY, wrong)
        with pytest.raises(WebhookSignatureInvalid):
            rzp(NEW_WEBHOOK_SECRET).parse_webhook(RAZORPAY_BODY, rzp_headers(signature), now=NOW)


def test_razorpay_webhook_old_secret_is_accepted_during_rotation_and_not_after():
    gateway = rzp(NEW_WEBHOOK_SECRET, OLD_WEBHOOK_SECRET)
    for secret in (NEW_WEBHOOK_SECRET, OLD_WEBHOOK_SECRET):
        signature = razorpay_signature(RAZORPAY_BODY, secret)
        assert gateway.parse_webhook(RAZORPAY_BODY, rzp_headers(signature), now=NOW)
    old_signature = razorpay_signature(RAZORPAY_BODY, OLD_WEBHOOK_SECRET)
    with pytest.raises(WebhookSignatureInvalid):
        rzp(NEW_WEBHOOK_SECRET).parse_webhook(RAZORPAY_BODY, rzp_headers(old_signature), now=NOW)


def test_razorpay_webhook_without_signature_header_is_rejected():
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        rzp(NEW_WEBHOOK_SECRET).parse_webhook(
            RAZORPAY_BODY, {"x-razorpay-event-id": "evt_1"}, now=NOW
        )
    assert reason(exc_info) == "missing_header"
    with pytest.raises(WebhookSignatureInvalid):
        rzp(NEW_WEBHOOK_SECRET).parse_webhook(RAZORPAY_BODY, rzp_headers(""), now=NOW)


def test_razorpay_webhook_is_refused_when_no_webhook_secret_is_configured():
    signature = razorpay_signature(RAZORPAY_BODY, KEY_SECRET)
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        rzp().parse_webhook(RAZORPAY_BODY, rzp_headers(signature), now=NOW)
    assert reason(exc_info) == "not_configured"


def test_razorpay_webhook_signature_with_non_ascii_is_rejected_not_crashed():
    with pytest.raises(WebhookSignatureInvalid):
        rzp(NEW_WEBHOOK_SECRET).parse_webhook(RAZORPAY_BODY, rzp_headers("sïgnature"), now=NOW)


def test_razorpay_webhook_without_event_id_dedupes_on_the_body_hash():
    signature = razorpay_signature(RAZORPAY_BODY, NEW_WEBHOOK_SECRET)
    gateway = rzp(NEW_WEBHOOK_SECRET)
    first = gateway.parse_webhook(RAZORPAY_BODY, rzp_headers(signature, event_id=None), now=NOW)
    again = gateway.parse_webhook(RAZORPAY_BODY, rzp_headers(signature, event_id=None), now=NOW)
    assert first.event_id == again.event_id == "sha256:" + hashlib.sha256(RAZORPAY_BODY).hexdigest()


def test_razorpay_signed_body_that_is_not_json_is_invalid():
    body = b"not json"
    with pytest.raises(Invalid):
        rzp(NEW_WEBHOOK_SECRET).parse_webhook(
            body, rzp_headers(razorpay_signature(body, NEW_WEBHOOK_SECRET)), now=NOW
        )


def test_webhook_signature_invalid_is_a_401_unauthorized():
    assert issubclass(WebhookSignatureInvalid, Unauthorized)
    assert WebhookSignatureInvalid.http_status == 401
    assert WebhookSignatureInvalid.code == "webhook_signature_invalid"


# -- Razorpay checkout -----------------------------------------------------------------------


def checkout_signature(order_id: str, payment_id: str, secret: str = KEY_SECRET) -> str:
    message = f"{order_id}|{payment_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_razorpay_checkout_signature_valid():
    signature = checkout_signature("order_DESlLckIVRkHWj", "pay_DESlfW9H8K9uqM")
    rzp().verify_checkout_signature(
        gateway_order_id="order_DESlLckIVRkHWj",
        gateway_payment_id="pay_DESlfW9H8K9uqM",
        signature=signature,
    )
    sdk = razorpay.Client(auth=("key_id_1", KEY_SECRET)).utility
    assert sdk.verify_payment_signature(
        {
            "razorpay_order_id": "order_DESlLckIVRkHWj",
            "razorpay_payment_id": "pay_DESlfW9H8K9uqM",
            "razorpay_signature": signature,
        }
    )


def test_razorpay_checkout_signature_for_another_order_than_the_stored_one_is_rejected():
    # The app paid some other order and sends that order's valid signature.
    signature = checkout_signature("order_OTHER", "pay_DESlfW9H8K9uqM")
    with pytest.raises(WebhookSignatureInvalid):
        rzp().verify_checkout_signature(
            gateway_order_id="order_DESlLckIVRkHWj",
            gateway_payment_id="pay_DESlfW9H8K9uqM",
            signature=signature,
        )


@pytest.mark.parametrize(
    "signature",
    [
        checkout_signature("order_DESlLckIVRkHWj", "pay_DESlfW9H8K9uqM", secret="wrong"),
        checkout_signature("pay_DESlfW9H8K9uqM", "order_DESlLckIVRkHWj"),
        checkout_signature("order_DESlLckIVRkHWj", "pay_DESlfW9H8K9uqM").upper() + "0",
        "",
        "ünïcode",
    ],
)
def test_razorpay_checkout_signature_invalid(signature: str):
    with pytest.raises(WebhookSignatureInvalid):
        rzp().verify_checkout_signature(
            gateway_order_id="order_DESlLckIVRkHWj",
            gateway_payment_id="pay_DESlfW9H8K9uqM",
            signature=signature,
        )


# -- Cashfree webhooks -----------------------------------------------------------------------


def test_cashfree_webhook_with_valid_signature_parses():
    timestamp = millis(NOW - timedelta(seconds=2))
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    event = cf(NEW_WEBHOOK_SECRET).parse_webhook(
        CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW
    )
    assert event.gateway == "cashfree"
    assert event.event_type == "PAYMENT_SUCCESS_WEBHOOK"
    assert event.gateway_order_id == "att-42"
    assert event.gateway_payment_id == "5114910"
    assert event.event_id == "PAYMENT_SUCCESS_WEBHOOK:5114910:SUCCESS"


def test_cashfree_sdk_accepts_the_signature_the_adapter_accepts():
    timestamp = millis(NOW)
    signature = cashfree_signature(timestamp, CASHFREE_BODY, KEY_SECRET)
    sdk = Cashfree(XEnvironment=Cashfree.SANDBOX, XClientId="key_id_1", XClientSecret=KEY_SECRET)
    verified = sdk.PGVerifyWebhookSignature(signature, CASHFREE_BODY.decode(), timestamp)
    assert verified.type == "PAYMENT_SUCCESS_WEBHOOK"
    # With no webhook secrets configured, the adapter uses the client secret, as Cashfree does.
    event = cf().parse_webhook(CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW)
    assert event.event_type == "PAYMENT_SUCCESS_WEBHOOK"


def test_cashfree_webhook_with_altered_body_or_timestamp_is_rejected():
    timestamp = millis(NOW)
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    gateway = cf(NEW_WEBHOOK_SECRET)
    altered = CASHFREE_BODY.replace(b"500.0", b"5.0")
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        gateway.parse_webhook(altered, cf_headers(signature, timestamp), now=NOW)
    assert reason(exc_info) == "mismatch"
    moved = millis(NOW - timedelta(seconds=1))
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        gateway.parse_webhook(CASHFREE_BODY, cf_headers(signature, moved), now=NOW)
    assert reason(exc_info) == "mismatch"


def test_cashfree_webhook_signed_with_the_wrong_secret_is_rejected():
    timestamp = millis(NOW)
    signature = cashfree_signature(timestamp, CASHFREE_BODY, "whsec-other")
    with pytest.raises(WebhookSignatureInvalid):
        cf(NEW_WEBHOOK_SECRET).parse_webhook(
            CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW
        )


def test_cashfree_webhook_old_secret_is_accepted_during_rotation_and_not_after():
    timestamp = millis(NOW)
    gateway = cf(NEW_WEBHOOK_SECRET, OLD_WEBHOOK_SECRET)
    for secret in (NEW_WEBHOOK_SECRET, OLD_WEBHOOK_SECRET):
        signature = cashfree_signature(timestamp, CASHFREE_BODY, secret)
        assert gateway.parse_webhook(CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW)
    old_signature = cashfree_signature(timestamp, CASHFREE_BODY, OLD_WEBHOOK_SECRET)
    with pytest.raises(WebhookSignatureInvalid):
        cf(NEW_WEBHOOK_SECRET).parse_webhook(
            CASHFREE_BODY, cf_headers(old_signature, timestamp), now=NOW
        )


@pytest.mark.parametrize(
    ("offset_secs", "expected"),
    [(-301, "stale"), (-3600, "stale"), (301, "future"), (86_400, "future")],
)
def test_cashfree_webhook_outside_the_tolerance_is_rejected(offset_secs: int, expected: str):
    timestamp = millis(NOW + timedelta(seconds=offset_secs))
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        cf(NEW_WEBHOOK_SECRET).parse_webhook(
            CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW
        )
    assert reason(exc_info) == expected


@pytest.mark.parametrize("offset_secs", [-299, -1, 0, 1, 299])
def test_cashfree_webhook_within_the_tolerance_is_accepted(offset_secs: int):
    timestamp = millis(NOW + timedelta(seconds=offset_secs))
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    assert cf(NEW_WEBHOOK_SECRET).parse_webhook(
        CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW
    )


def test_cashfree_webhook_tolerance_is_configurable_and_seconds_timestamps_are_read():
    timestamp = str(int((NOW - timedelta(seconds=30)).timestamp()))  # seconds, not millis
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    headers = cf_headers(signature, timestamp)
    assert cf(NEW_WEBHOOK_SECRET).parse_webhook(CASHFREE_BODY, headers, now=NOW)
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        cf(NEW_WEBHOOK_SECRET, tolerance_secs=10).parse_webhook(CASHFREE_BODY, headers, now=NOW)
    assert reason(exc_info) == "stale"


@pytest.mark.parametrize("missing", ["x-webhook-signature", "x-webhook-timestamp"])
def test_cashfree_webhook_without_a_required_header_is_rejected(missing: str):
    timestamp = millis(NOW)
    headers = dict(
        cf_headers(cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET), timestamp)
    )
    del headers[missing]
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        cf(NEW_WEBHOOK_SECRET).parse_webhook(CASHFREE_BODY, headers, now=NOW)
    assert reason(exc_info) == "missing_header"
    assert exc_info.value.details["header"] == missing


def test_cashfree_webhook_with_a_non_numeric_timestamp_is_rejected():
    timestamp = "2026-03-01T10:30:00Z"
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        cf(NEW_WEBHOOK_SECRET).parse_webhook(
            CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW
        )
    assert reason(exc_info) == "bad_timestamp"


def test_cashfree_webhook_headers_are_case_insensitive():
    timestamp = millis(NOW)
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    headers = {"X-Webhook-Signature": signature, "X-Webhook-Timestamp": timestamp}
    assert cf(NEW_WEBHOOK_SECRET).parse_webhook(CASHFREE_BODY, headers, now=NOW)


def test_cashfree_webhook_idempotency_header_is_the_dedupe_key_when_present():
    timestamp = millis(NOW)
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    headers = {**cf_headers(signature, timestamp), "x-idempotency-key": "cf-evt-9"}
    event = cf(NEW_WEBHOOK_SECRET).parse_webhook(CASHFREE_BODY, headers, now=NOW)
    assert event.event_id == "cf-evt-9"


def test_webhook_parsing_needs_an_aware_now():
    timestamp = millis(NOW)
    signature = cashfree_signature(timestamp, CASHFREE_BODY, NEW_WEBHOOK_SECRET)
    with pytest.raises(ValueError):
        cf(NEW_WEBHOOK_SECRET).parse_webhook(
            CASHFREE_BODY, cf_headers(signature, timestamp), now=NOW.replace(tzinfo=None)
        )


# -- Cashfree checkout -----------------------------------------------------------------------


def test_cashfree_checkout_claims_are_refused_because_they_are_unsigned():
    with pytest.raises(WebhookSignatureInvalid) as exc_info:
        cf().verify_checkout_signature(
            gateway_order_id="att-42", gateway_payment_id="5114910", signature="anything"
        )
    assert reason(exc_info) == "unsigned"
