"""The log masking filter and the JSON line format (protocols/log_lines.py), without a hub."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from protocols.log_lines import (
    CONTEXT_FIELDS,
    MASK,
    json_handler,
    log_context,
    mask_text,
    mask_value,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiI1YjVmIiwicm9sZSI6InVzZXIifQ."
    "c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger(f"seva.test.masking.{id(stream)}")
    handler = json_handler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("raw", "secret", "kept"),
    [
        (f"token {JWT} refused", JWT, "token"),
        ("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123", "Authorization"),
        ("basic auth Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "auth"),
        ('{"password": "hunter2", "user": "ravi"}', "hunter2", '"user": "ravi"'),
        ("key_secret=rzp_sec_9f8e7d&amount=100", "rzp_sec_9f8e7d", "amount=100"),
        ("webhook_signature: 3b2a1f", "3b2a1f", "webhook_signature"),
        ("GET /socket.io/?token=opaque-refresh&EIO=4", "opaque-refresh", "EIO=4"),
        ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "[card ****1111]"),
        ("card 5555-5555-5555-4444", "5555-5555-5555-4444", "[card ****4444]"),
        ("rupay 6070 8211 1111 1119", "6070 8211 1111 1119", "[card ****1119]"),
        ("pan 4111111111111111", "4111111111111111", "[card ****1111]"),
        ("sms to +919876543210 sent", "9876543210", "[phone ******10]"),
        ("sms to 919812345678 sent", "9812345678", "[phone ******78]"),
        ("call 98765 43219 now", "98765 43219", "[phone ******19]"),
        ("call 09876543210?", "9876543210", "******10"),
        ("mail to ravi.kumar@example.com", "ravi.kumar", "r***@example.com"),
        ("headers={'Authorization': 'Bearer abcdefgh.ijk'}", "abcdefgh", "headers={"),
        ("see url=https://x.test/cb?key_secret=abc123&ok=1", "abc123", "&ok=1"),
        ("pin=4321 spin=2", "4321", "spin=2"),
    ],
)
def test_mask_text_hides_the_secret_and_keeps_the_rest(raw: str, secret: str, kept: str):
    masked = mask_text(raw)
    assert secret not in masked
    assert kept in masked


@pytest.mark.parametrize(
    "harmless",
    [
        "hold 6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f confirmed",
        "amount_paise=110000 qty=2",
        "batch of 512 commands in 12.5 ms",
        "slot 2026-11-24T06:00:00+00:00",
        "shard 3 restarted 12345 times",
        '"_ray_timestamp_ns": 1763840000123456789',  # epoch ns, not a card
        "order 4111111111111112 (fails the Luhn check: not a card number)",
    ],
)
def test_mask_text_leaves_ids_amounts_and_times_alone(harmless: str):
    assert mask_text(harmless) == harmless


def test_mask_value_masks_whole_secret_fields_and_walks_containers():
    assert mask_value("password", "hunter2") == MASK
    assert mask_value("access_token", {"a": 1}) == MASK
    assert mask_value("webhook_secrets", ["s1", "s2"]) == MASK
    assert mask_value("otp", 123456) == MASK
    assert mask_value("footprint", "big") == "big"  # "otp" inside a word is not a secret
    assert mask_value("headers", {"Authorization": "Bearer x", "Accept": "json"}) == {
        "Authorization": MASK,
        "Accept": "json",
    }
    assert mask_value("phone", 919876543210) == "[phone ******10]"
    assert mask_value("to", ["+919876543210"]) == ["[phone ******10]"]
    assert mask_value("qty", 2) == 2


def test_the_json_line_masks_message_args_extras_and_the_traceback(captured):
    logger, stream = captured
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        logger.exception(
            "login for %s with password=%s",
            "ravi@example.com",
            "hunter2",
            extra={"phone": "+919876543210", "client_secret": "cs_live_1", "qty": 3},
        )
    [line] = _lines(stream)
    text = stream.getvalue()
    for secret in (JWT, "hunter2", "9876543210", "cs_live_1", "ravi@"):
        assert secret not in text, secret
    assert line["message"] == f"login for r***@example.com with password={MASK}"
    assert line["phone"] == "[phone ******10]"
    assert line["client_secret"] == MASK
    assert line["qty"] == 3
    assert line["level"] == "ERROR"
    assert "ValueError: bad token" in line["exc"] and MASK in line["exc"]


def test_the_json_line_carries_the_bound_context_and_extras_override_it(captured):
    logger, stream = captured
    logger.info("outside")
    with log_context(request_id="req-1", user_id="u-1", tenant_id="t-1", event="hold:create"):
        logger.info("inside")
        logger.info("explicit", extra={"tenant_id": "t-2"})
    outside, inside, explicit = _lines(stream)
    assert all(outside[name] is None for name in CONTEXT_FIELDS)
    assert {k: inside[k] for k in CONTEXT_FIELDS} == {
        "request_id": "req-1",
        "socket_id": None,
        "tenant_id": "t-1",
        "user_id": "u-1",
    }
    assert inside["event"] == "hold:create"
    assert explicit["tenant_id"] == "t-2" and explicit["request_id"] == "req-1"
    for line in (outside, inside, explicit):
        assert set(line) >= {"ts", "level", "logger", "message", *CONTEXT_FIELDS}
        assert line["ts"].endswith("+00:00")


def test_a_broken_format_string_still_gives_one_masked_line(captured):
    logger, stream = captured
    logger.info("two args %s %s", "+919876543210")
    [line] = _lines(stream)
    assert "9876543210" not in line["message"]
