"""The channel adapters against real servers: an aiosmtpd SMTP server and the local MSG91 and
WhatsApp Cloud API receivers (real HTTP, the providers' request and answer shapes)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from hub.settings import Settings
from protocols.channels import (
    ChannelName,
    OutboundMessage,
    PermanentChannelError,
    RetryableChannelError,
    build_channels,
)
from protocols.channels.emulators import ReceiverConfig, create_channel_receiver
from protocols.channels.msg91 import Msg91SmsChannel
from protocols.channels.smtp import EmailChannel, message_id
from protocols.channels.smtp_receiver import SmtpReceiver, run_smtp_receiver
from protocols.channels.templates import SMS_TEMPLATES
from protocols.channels.whatsapp import WhatsAppChannel
from protocols.gateways.emulators import run_emulator

pytestmark = pytest.mark.timeout(30)

MSG91_KEY = "msg91-test-key"
WA_TOKEN = "wa-test-token"
WA_PHONE_NUMBER_ID = "106540352242922"
BOOKING_ID = "3f2a9c1b-0d4e-4c7a-9b8e-1a2b3c4d5e6f"
REPORT_URL = "https://files.example.in/reports/r1.pdf?X-Amz-Signature=abc&X-Amz-Expires=300"


def message(
    kind: str, recipient: str, *, language: str = "en", key: str | None = None, **data: Any
) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=uuid.uuid4(),
        idempotency_key=key or f"delivery-{uuid.uuid4()}",
        kind=kind,
        language=language,
        recipient=recipient,
        data={"booking_id": BOOKING_ID, **data},
    )


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpReceiver]:
    with run_smtp_receiver() as receiver:
        yield receiver


@pytest.fixture
def mailbox(smtp: SmtpReceiver) -> SmtpReceiver:
    smtp.handler.clear()
    smtp.fail_next(0)
    return smtp


@pytest.fixture
def email(mailbox: SmtpReceiver) -> EmailChannel:
    return EmailChannel(
        host=mailbox.host,
        port=mailbox.port,
        sender="Seva Hub <noreply@seva.test>",
        tls="none",
        timeout_secs=5,
    )


@pytest.fixture(scope="module")
async def receiver_url() -> AsyncIterator[str]:
    config = ReceiverConfig(msg91_auth_keys=(MSG91_KEY,), whatsapp_tokens=(WA_TOKEN,))
    async with run_emulator(create_channel_receiver(config), port=0) as base_url:
        yield base_url


@pytest.fixture
async def receiver(receiver_url: str) -> str:
    async with aiohttp.ClientSession() as http:
        await http.delete(f"{receiver_url}/_receiver/messages")
    return receiver_url


@pytest.fixture
async def sms(receiver: str) -> AsyncIterator[Msg91SmsChannel]:
    channel = Msg91SmsChannel(auth_key=SecretStr(MSG91_KEY), base_url=receiver, timeout_secs=5)
    yield channel
    await channel.aclose()


@pytest.fixture
async def whatsapp(receiver: str) -> AsyncIterator[WhatsAppChannel]:
    channel = WhatsAppChannel(
        token=SecretStr(WA_TOKEN),
        phone_number_id=WA_PHONE_NUMBER_ID,
        base_url=f"{receiver}/v21.0",
        timeout_secs=5,
    )
    yield channel
    await channel.aclose()


async def received(base_url: str, channel: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base_url}/_receiver/messages", params={"channel": channel}) as answer,
    ):
        body: dict[str, Any] = await answer.json()
        return body


async def inject(base_url: str, **fault: Any) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base_url}/_receiver/faults", json=fault) as answer,
    ):
        assert answer.status == 200, await answer.text()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "line", "link_label"),
    [
        ("en", "Puja report ready", "The report of your puja for booking 3F2A9C1B", "Puja report"),
        ("hi", "पूजा रिपोर्ट तैयार है", "बुकिंग 3F2A9C1B की आपकी पूजा की रिपोर्ट", "पूजा रिपोर्ट"),
    ],
)
async def test_email_arrives_as_text_and_html_in_its_language_with_the_report_link(
    email: EmailChannel,
    mailbox: SmtpReceiver,
    language: str,
    subject: str,
    line: str,
    link_label: str,
) -> None:
    sent = message(
        "puja_report_ready", "devotee@example.in", language=language, report_url=REPORT_URL
    )
    result = await email.send(sent)

    [mail] = mailbox.messages
    assert mail.mail_from == "noreply@seva.test"
    assert mail.rcpt_tos == ("devotee@example.in",)
    got = mail.message
    assert got["Subject"] == subject
    assert got["Message-ID"] == result.provider_message_id
    assert got["Message-ID"] == message_id(sent.idempotency_key, "seva.test")
    assert got["Content-Language"] == language
    assert got.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part for part in got.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    text = parts["text/plain"].get_content()
    html = parts["text/html"].get_content()
    assert line in text and line in html
    assert f"{link_label}: {REPORT_URL}" in text
    assert f'href="{REPORT_URL.replace("&", "&amp;")}"' in html
    assert not any(part.get_filename() for part in got.walk())  # a link, never the bytes


async def test_sending_one_delivery_twice_gives_both_copies_the_same_message_id(
    email: EmailChannel, mailbox: SmtpReceiver
) -> None:
    sent = message("booking_confirmed", "devotee@example.in", key="delivery-42")
    first = await email.send(sent)
    second = await email.send(sent)
    assert first == second
    assert [m.message["Message-ID"] for m in mailbox.messages] == [first.provider_message_id] * 2


async def test_smtp_451_is_retryable_and_550_permanent(
    email: EmailChannel, mailbox: SmtpReceiver
) -> None:
    mailbox.fail_next(1, 451)
    with pytest.raises(RetryableChannelError) as deferred:
        await email.send(message("booking_confirmed", "devotee@example.in"))
    assert deferred.value.details == {"smtp_codes": [451]}

    mailbox.fail_next(1, 550)
    with pytest.raises(PermanentChannelError) as refused:
        await email.send(message("booking_confirmed", "devotee@example.in"))
    assert refused.value.code == "provider_rejected"
    assert mailbox.messages == []

    await email.send(message("booking_confirmed", "devotee@example.in"))
    assert len(mailbox.messages) == 1


async def test_smtp_authenticates_and_a_wrong_password_is_permanent() -> None:
    with run_smtp_receiver(username="seva", password="right-password") as smtp:

        def channel(password: str) -> EmailChannel:
            return EmailChannel(
                host=smtp.host,
                port=smtp.port,
                sender="noreply@seva.test",
                tls="none",
                username="seva",
                password=SecretStr(password),
                timeout_secs=5,
            )

        await channel("right-password").send(message("booking_confirmed", "a@example.in"))
        assert len(smtp.messages) == 1
        with pytest.raises(PermanentChannelError) as refused:
            await channel("wrong").send(message("booking_confirmed", "a@example.in"))
        assert refused.value.details["smtp_codes"][0] == 535
        assert len(smtp.messages) == 1


async def test_an_unreachable_smtp_server_is_retryable() -> None:
    channel = EmailChannel(
        host="127.0.0.1", port=closed_port(), sender="noreply@seva.test", tls="none"
    )
    with pytest.raises(RetryableChannelError) as down:
        await channel.send(message("booking_confirmed", "a@example.in"))
    assert down.value.code == "provider_unavailable"


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "x@y.in\r\nBcc: z@y.in", "a b@c.in"])
async def test_an_invalid_email_address_is_refused_before_connecting(
    email: EmailChannel, mailbox: SmtpReceiver, address: str
) -> None:
    with pytest.raises(PermanentChannelError) as refused:
        await email.send(message("booking_confirmed", address))
    assert refused.value.code == "invalid_recipient"
    assert mailbox.messages == []


# --- SMS (MSG91) ---------------------------------------------------------------------------


async def test_sms_carries_the_dlt_template_and_the_number_msg91_wants(
    sms: Msg91SmsChannel, receiver: str
) -> None:
    result = await sms.send(
        message("payment_success", "+91-98765-43210", language="hi", amount_paise=150_050)
    )

    [got] = (await received(receiver, "sms"))["messages"]
    registered = SMS_TEMPLATES[("payment_success", "hi")]
    assert got["id"] == result.provider_message_id
    assert got["to"] == "919876543210"
    assert got["dlt_template_id"] == registered.template_id
    assert got["template_id"] == registered.msg91_template_id
    assert got["sender"] == "SEVAHB"
    assert got["request"]["recipients"] == [
        {"mobiles": "919876543210", "VAR1": "3F2A9C1B", "VAR2": "1500.50"}
    ]
    assert got["text"] == "बुकिंग 3F2A9C1B के लिए हमें ₹1500.50 प्राप्त हुए। - सेवा हब"


async def test_sms_of_a_report_asks_msg91_to_shorten_the_link(
    sms: Msg91SmsChannel, receiver: str
) -> None:
    await sms.send(message("puja_report_ready", "9876543210", report_url=REPORT_URL))
    [got] = (await received(receiver, "sms"))["messages"]
    assert got["short_url"] == "1"
    assert got["variables"] == ["3F2A9C1B", REPORT_URL]


@pytest.mark.parametrize("kind", ["system", "credits_low"])
async def test_sms_without_a_dlt_template_is_refused_before_any_request(
    sms: Msg91SmsChannel, receiver: str, kind: str
) -> None:
    with pytest.raises(PermanentChannelError) as refused:
        await sms.send(message(kind, "9876543210", title="t", body="b"))
    assert refused.value.code == "template_not_registered"
    seen = await received(receiver, "sms")
    assert seen["messages"] == [] and seen["requests"]["sms"] == 0


async def test_an_invalid_number_is_refused_before_any_request(
    sms: Msg91SmsChannel, whatsapp: WhatsAppChannel, receiver: str
) -> None:
    for channel in (sms, whatsapp):
        with pytest.raises(PermanentChannelError) as refused:
            await channel.send(message("booking_confirmed", "+1 415 555 0100"))
        assert refused.value.code == "invalid_recipient"
    seen = await received(receiver, "sms")
    assert seen["requests"] == {"sms": 0, "whatsapp": 0}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, RetryableChannelError),
        (503, RetryableChannelError),
        (429, RetryableChannelError),
        (400, PermanentChannelError),
    ],
)
async def test_provider_failures_map_to_retryable_or_permanent(
    sms: Msg91SmsChannel,
    whatsapp: WhatsAppChannel,
    receiver: str,
    status: int,
    error: type[Exception],
) -> None:
    await inject(receiver, fail_next=2, status=status)
    for channel in (sms, whatsapp):
        with pytest.raises(error) as failed:
            await channel.send(message("booking_confirmed", "9876543210"))
        assert failed.value.details["status"] == status  # type: ignore[attr-defined]
    # The fault is used up: the next sends go through.
    await sms.send(message("booking_confirmed", "9876543210"))
    await whatsapp.send(message("booking_confirmed", "9876543210"))
    assert len((await received(receiver, "sms"))["messages"]) == 1
    assert len((await received(receiver, "whatsapp"))["messages"]) == 1


async def test_a_wrong_msg91_key_or_whatsapp_token_is_permanent(receiver: str) -> None:
    sms = Msg91SmsChannel(auth_key=SecretStr("wrong"), base_url=receiver)
    whatsapp = WhatsAppChannel(
        token=SecretStr("wrong"), phone_number_id="1", base_url=f"{receiver}/v21.0"
    )
    try:
        for channel in (sms, whatsapp):
            with pytest.raises(PermanentChannelError) as refused:
                await channel.send(message("booking_confirmed", "9876543210"))
            assert refused.value.details["status"] == 401
    finally:
        await sms.aclose()
        await whatsapp.aclose()


async def test_an_unreachable_or_silent_provider_is_retryable() -> None:
    hung = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        hung.set()
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/v5/flow", never_answers)
    async with run_emulator(app, port=0, shutdown_timeout_secs=0.1) as silent_url:
        for base_url in (f"http://127.0.0.1:{closed_port()}", silent_url):
            channel = Msg91SmsChannel(
                auth_key=SecretStr(MSG91_KEY), base_url=base_url, timeout_secs=0.3
            )
            try:
                with pytest.raises(RetryableChannelError) as down:
                    await channel.send(message("booking_confirmed", "9876543210"))
                assert down.value.code == "provider_unavailable"
            finally:
                await channel.aclose()
    assert hung.is_set()


# --- WhatsApp ------------------------------------------------------------------------------


async def test_whatsapp_sends_the_approved_template_with_ordered_parameters(
    whatsapp: WhatsAppChannel, receiver: str
) -> None:
    sent = message("refund_processed", "098765 43210", language="hi", amount_paise=150_050)
    result = await whatsapp.send(sent)

    [got] = (await received(receiver, "whatsapp"))["messages"]
    assert result.provider_message_id == got["id"]
    assert got["id"].startswith("wamid.")
    assert got["phone_number_id"] == WA_PHONE_NUMBER_ID
    assert got["to"] == "+919876543210"
    assert got["request"]["template"] == {
        "name": "seva_refund_processed",
        "language": {"code": "hi"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "1500.50"},
                    {"type": "text", "text": "3F2A9C1B"},
                ],
            }
        ],
    }
    assert got["callback_data"] == sent.idempotency_key


async def test_whatsapp_system_notice_flattens_its_text_and_other_languages_fall_back(
    whatsapp: WhatsAppChannel, receiver: str
) -> None:
    await whatsapp.send(
        message("system", "9876543210", language="ta", title="Closed", body="Line one\n\nLine two")
    )
    [got] = (await received(receiver, "whatsapp"))["messages"]
    assert got["language"] == "en"
    assert got["parameters"] == ["Closed", "Line one Line two"]


async def test_whatsapp_throttling_codes_sent_with_400_are_retryable(receiver: str) -> None:
    async def throttled(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": "Rate limit hit", "type": "OAuthException", "code": 130429}},
            status=400,
        )

    app = web.Application()
    app.router.add_post("/v21.0/{phone_number_id}/messages", throttled)
    async with run_emulator(app, port=0) as base_url:
        channel = WhatsAppChannel(
            token=SecretStr(WA_TOKEN), phone_number_id="1", base_url=f"{base_url}/v21.0"
        )
        try:
            with pytest.raises(RetryableChannelError):
                await channel.send(message("booking_confirmed", "9876543210"))
        finally:
            await channel.aclose()


# --- from the settings ---------------------------------------------------------------------


async def test_channels_built_from_settings_deliver_on_all_three(
    mailbox: SmtpReceiver, receiver: str
) -> None:
    settings = Settings(
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_tls="none",
        smtp_from="Seva Hub <noreply@seva.test>",
        msg91_base_url=receiver,
        msg91_auth_key=SecretStr(MSG91_KEY),
        whatsapp_base_url=f"{receiver}/v21.0",
        whatsapp_token=SecretStr(WA_TOKEN),
        whatsapp_phone_number_id=WA_PHONE_NUMBER_ID,
        channel_timeout_secs=5,
    )
    channels = build_channels(settings)
    assert set(channels) == {"email", "sms", "whatsapp"}
    assert build_channels(Settings()) == {}
    try:
        deliveries: list[tuple[ChannelName, str]] = [
            ("email", "devotee@example.in"),
            ("sms", "9876543210"),
            ("whatsapp", "9876543210"),
        ]
        for name, recipient in deliveries:
            assert channels[name].name == name
            result = await channels[name].send(message("booking_confirmed", recipient))
            assert result.provider_message_id
    finally:
        await asyncio.gather(*(channel.aclose() for channel in channels.values()))
    assert len(mailbox.messages) == 1
    assert len((await received(receiver, "sms"))["messages"]) == 1
    assert len((await received(receiver, "whatsapp"))["messages"]) == 1
