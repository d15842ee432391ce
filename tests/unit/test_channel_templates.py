"""Every notification type renders on every channel that registers it, in English and Hindi;
other languages fall back to English; SMS is refused without a DLT template."""

from __future__ import annotations

import pickle
import re

import pytest

from protocols.channels import (
    PermanentChannelError,
    RetryableChannelError,
    check_template,
)
from protocols.channels.templates import (
    DLT_PLACEHOLDER,
    DLT_VAR_MAX_CHARS,
    NOTIFICATION_TYPES,
    SMS_TEMPLATES,
    WHATSAPP_TEMPLATES,
    DltTemplate,
    render_email,
    render_sms,
    render_whatsapp,
)

DEVANAGARI = re.compile(r"[\u0900-\u097F]")
BOOKING_ID = "3f2a9c1b-0d4e-4c7a-9b8e-1a2b3c4d5e6f"
DATA = {
    "booking_id": BOOKING_ID,
    "amount_paise": 150_050,
    "title": "Temple closed on Monday",
    "body": "Darshan resumes Tuesday.",
    "report_url": "https://files.example.in/reports/r1.pdf?X-Amz-Signature=abc",
    "stream_url": "https://live.example.in/s/1",
}
SMS_KINDS = sorted({kind for kind, _ in SMS_TEMPLATES})
UNREGISTERED_SMS = ("system", "credits_low")


def test_there_are_sixteen_notification_types() -> None:
    assert len(NOTIFICATION_TYPES) == 16


@pytest.mark.parametrize("language", ["en", "hi"])
@pytest.mark.parametrize("kind", NOTIFICATION_TYPES)
def test_every_type_renders_an_email_in_english_and_hindi(kind: str, language: str) -> None:
    email = render_email(kind, language, DATA)
    assert email.language == language
    assert email.subject and "{" not in email.subject
    assert email.text.strip() and "{" not in email.text
    assert f'<html lang="{language}">' in email.html
    if language == "hi" and kind != "system":
        assert DEVANAGARI.search(email.subject) and DEVANAGARI.search(email.text)
    if language == "en":
        assert not DEVANAGARI.search(email.text)


@pytest.mark.parametrize("language", ["en", "hi"])
@pytest.mark.parametrize("kind", SMS_KINDS)
def test_every_sms_type_fills_its_dlt_template(kind: str, language: str) -> None:
    sms = render_sms(kind, language, DATA)
    assert sms.language == language
    assert DLT_PLACEHOLDER not in sms.text
    assert re.fullmatch(r"\d{19}", sms.template.template_id)
    assert sms.template.sender_id == "SEVAHB"
    assert set(sms.msg91_variables()) == {f"VAR{i}" for i in range(1, len(sms.values) + 1)}
    assert (DEVANAGARI.search(sms.text) is not None) == (language == "hi")


@pytest.mark.parametrize("language", ["en", "hi"])
@pytest.mark.parametrize("kind", NOTIFICATION_TYPES)
def test_every_type_has_a_whatsapp_template_with_its_parameters(kind: str, language: str) -> None:
    message = render_whatsapp(kind, language, DATA)
    assert message.language_code == language
    assert message.template.name == f"seva_{kind}"
    assert len(message.parameters) == len(WHATSAPP_TEMPLATES[kind].parameters)
    assert all(p and "\n" not in p for p in message.parameters)


@pytest.mark.parametrize("language", ["ta", "mr-IN", "", "xx"])
def test_other_languages_fall_back_to_english(language: str) -> None:
    assert render_email("booking_confirmed", language, DATA).language == "en"
    assert render_sms("booking_confirmed", language, DATA).language == "en"
    assert render_whatsapp("booking_confirmed", language, DATA).language_code == "en"


def test_regional_tags_pick_the_language() -> None:
    assert render_email("booking_confirmed", "hi-IN", DATA).language == "hi"
    assert render_whatsapp("booking_confirmed", "HI_in", DATA).language_code == "hi"


def test_booking_reference_and_rupees_are_filled_exactly() -> None:
    sms = render_sms("payment_success", "en", DATA)
    assert sms.text == "We received Rs 1500.50 for booking 3F2A9C1B. - Seva Hub"
    hindi = render_sms("payment_success", "hi", DATA)
    assert hindi.text == "बुकिंग 3F2A9C1B के लिए हमें ₹1500.50 प्राप्त हुए। - सेवा हब"
    assert render_whatsapp("refund_processed", "en", DATA).parameters == ["1500.50", "3F2A9C1B"]


def test_dlt_values_are_cut_to_thirty_characters_but_links_are_left_to_the_shortener() -> None:
    long_ref = "R" * 50
    sms = render_sms("puja_report_ready", "en", {**DATA, "booking_ref": long_ref})
    assert sms.values[0] == "R" * DLT_VAR_MAX_CHARS
    assert sms.values[1] == DATA["report_url"]
    assert sms.template.short_url


@pytest.mark.parametrize("kind", UNREGISTERED_SMS)
def test_sms_without_a_dlt_template_is_refused(kind: str) -> None:
    for refuse in (
        lambda: check_template("sms", kind, "hi"),
        lambda: render_sms(kind, "en", DATA),
    ):
        with pytest.raises(PermanentChannelError) as refused:
            refuse()
        assert refused.value.code == "template_not_registered"
        assert refused.value.details["channel"] == "sms"


@pytest.mark.parametrize("kind", NOTIFICATION_TYPES)
def test_email_and_whatsapp_templates_are_registered_for_every_type(kind: str) -> None:
    check_template("email", kind, "hi")
    check_template("whatsapp", kind, "ta")
    if kind not in UNREGISTERED_SMS:
        check_template("sms", kind, "en")


def test_an_unknown_kind_is_registered_nowhere() -> None:
    for channel in ("email", "sms", "whatsapp"):
        with pytest.raises(PermanentChannelError):
            check_template(channel, "horoscope_daily", "en")  # type: ignore[arg-type]


def test_email_parameters_are_html_escaped() -> None:
    data = {
        "title": "<script>alert(1)</script>",
        "body": 'Tom & "Jerry"\nline two',
        "report_url": 'https://x.in/r?a=1&b="2"',
    }
    email = render_email("system", "en", data)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "Tom &amp; &quot;Jerry&quot;<br>\nline two" in email.html
    assert 'href="https://x.in/r?a=1&amp;b=&quot;2&quot;"' in email.html
    assert email.subject == "<script>alert(1)</script>"  # a header, not HTML
    assert 'https://x.in/r?a=1&b="2"' in email.text


def test_email_carries_report_and_download_links_in_both_parts() -> None:
    data = {**DATA, "download_url": "https://files.example.in/d/2"}
    email = render_email("puja_report_ready", "hi", data)
    assert f"पूजा रिपोर्ट: {DATA['report_url']}" in email.text
    assert "डाउनलोड: https://files.example.in/d/2" in email.text
    assert 'href="https://files.example.in/d/2"' in email.html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "https://a b"])
def test_a_link_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(PermanentChannelError) as refused:
        render_email("puja_report_ready", "en", {"report_url": url})
    assert refused.value.code == "invalid_data"


def test_a_subject_cannot_smuggle_headers() -> None:
    email = render_email("system", "en", {"title": "Hi\r\nBcc: all@x.in", "body": "b"})
    assert "\n" not in email.subject and "\r" not in email.subject


def test_a_dlt_template_must_match_its_variables() -> None:
    with pytest.raises(ValueError):
        DltTemplate("1107000000000000001", "SEVAHB", "a {#var#} b {#var#}", ("x",), "t")
    with pytest.raises(ValueError):
        DltTemplate("123", "SEVAHB", "a {#var#}", ("x",), "t")


def test_channel_errors_survive_pickling() -> None:
    error = RetryableChannelError("down", code="provider_unavailable", details={"status": 503})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RetryableChannelError
    assert (copy.code, copy.message, copy.details, copy.retryable) == (
        "provider_unavailable",
        "down",
        {"status": 503},
        True,
    )


def test_missing_parameters_render_empty_not_fail() -> None:
    email = render_email("booking_confirmed", "en", {})
    assert email.subject == "Booking confirmed"
    assert render_whatsapp("booking_confirmed", "en", {}).parameters == ["-"]
