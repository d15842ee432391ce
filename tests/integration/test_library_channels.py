"""The local MSG91 and WhatsApp receivers accept the study library's notification types
(``fee_due``, ``plan_renewal``) from the real adapters: the DLT template with its variables,
and the approved WhatsApp template with its ordered parameters, in Hindi."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from protocols.channels import OutboundMessage
from protocols.channels.emulators import ReceiverConfig, create_channel_receiver
from protocols.channels.msg91 import Msg91SmsChannel
from protocols.channels.templates import SMS_TEMPLATES
from protocols.channels.whatsapp import WhatsAppChannel
from protocols.gateways.emulators import run_emulator

pytestmark = pytest.mark.timeout(30)

MSG91_KEY = "msg91-test-key"
WA_TOKEN = "wa-test-token"
CASES = [
    ("fee_due", {"amount_paise": 150_050, "due_date": "2030-01-05"}, ["1500.50", "05-01-2030"]),
    (
        "plan_renewal",
        {"seat_plan_id": str(uuid.uuid4()), "plan_ends_on": "2030-02-01"},
        ["01-02-2030"],
    ),
]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[str]:
    config = ReceiverConfig(msg91_auth_keys=(MSG91_KEY,), whatsapp_tokens=(WA_TOKEN,))
    async with run_emulator(create_channel_receiver(config), port=0) as base_url:
        yield base_url


async def _received(base_url: str, channel: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base_url}/_receiver/messages", params={"channel": channel}) as answer,
    ):
        messages: list[dict[str, Any]] = (await answer.json())["messages"]
        return messages


def _message(kind: str, data: dict[str, Any], recipient: str) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=uuid.uuid4(),
        idempotency_key=f"delivery-{uuid.uuid4()}",
        kind=kind,
        language="hi",
        recipient=recipient,
        data=data,
    )


@pytest.mark.parametrize(("kind", "data", "values"), CASES)
async def test_the_sms_receiver_accepts_the_library_types_by_their_dlt_templates(
    receiver: str, kind: str, data: dict[str, Any], values: list[str]
) -> None:
    phone = f"9{uuid.uuid4().int % 10**9:09d}"
    channel = Msg91SmsChannel(auth_key=SecretStr(MSG91_KEY), base_url=receiver, timeout_secs=5)
    try:
        await channel.send(_message(kind, data, phone))
    finally:
        await channel.aclose()
    [got] = [m for m in await _received(receiver, "sms") if m["to"] == f"91{phone}"]
    template = SMS_TEMPLATES[(kind, "hi")]
    assert got["dlt_template_id"] == template.template_id
    assert got["template_id"] == f"seva_{kind}_hi"
    assert got["variables"] == values
    assert got["text"] == template.fill(values)


@pytest.mark.parametrize(("kind", "data", "values"), CASES)
async def test_the_whatsapp_receiver_accepts_the_library_types_in_hindi(
    receiver: str, kind: str, data: dict[str, Any], values: list[str]
) -> None:
    phone = f"9{uuid.uuid4().int % 10**9:09d}"
    channel = WhatsAppChannel(
        token=SecretStr(WA_TOKEN),
        phone_number_id="106540352242922",
        base_url=f"{receiver}/v21.0",
        timeout_secs=5,
    )
    try:
        await channel.send(_message(kind, data, phone))
    finally:
        await channel.aclose()
    [got] = [m for m in await _received(receiver, "whatsapp") if m["to"] == f"+91{phone}"]
    template = got["request"]["template"]
    assert (template["name"], template["language"]["code"]) == (f"seva_{kind}", "hi")
    [body] = template["components"]
    assert [p["text"] for p in body["parameters"]] == values
