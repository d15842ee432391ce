"""A waiting list's offer is a notification type of its own (``waitlist_offer``), rendered on
every channel in English and Hindi, SMS by its DLT template; adding it moved no existing
template id."""

from __future__ import annotations

import pytest

from protocols.channels import check_template
from protocols.channels.templates import (
    SMS_TEMPLATES,
    render_email,
    render_sms,
    render_whatsapp,
)
from protocols.notifications import render

OFFER = {
    "entry_id": "0b0c1d2e-0000-4000-8000-000000000001",
    "slot_id": "0b0c1d2e-0000-4000-8000-000000000002",
    "hold_id": "abcdef12-0000-4000-8000-000000000003",
    "qty": 2,
    "expires_at": "2030-01-05T06:15:00+00:00",
    "booking_ref": "ABCDEF12",
}


def test_the_inbox_text_names_the_places_and_the_hold() -> None:
    text = render("waitlist_offer", OFFER)
    assert text.title == "A place is free for you"
    assert text.priority == "high"
    assert text.body.startswith("2 place(s) you waited for are held for you (ref ABCDEF12)")


def test_an_offer_sms_fills_its_dlt_template_in_both_languages() -> None:
    english = render_sms("waitlist_offer", "en", OFFER)
    assert english.values == ["2", "ABCDEF12"]
    assert english.text == (
        "2 place(s) you waited for are held for you, ref ABCDEF12. "
        "Pay before the offer expires. - Seva Hub"
    )
    assert english.template.msg91_template_id == "seva_waitlist_offer_en"
    hindi = render_sms("waitlist_offer", "hi-IN", OFFER)
    assert hindi.values == ["2", "ABCDEF12"] and "संदर्भ ABCDEF12" in hindi.text
    assert hindi.template.template_id != english.template.template_id


def test_earlier_dlt_template_ids_did_not_move() -> None:
    assert SMS_TEMPLATES[("fee_due", "en")].template_id == "1107000000000000121"
    assert SMS_TEMPLATES[("plan_renewal", "hi")].template_id == "1107000000000000132"


@pytest.mark.parametrize("channel", ["email", "sms", "whatsapp"])
@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_offer_is_registered_on_every_channel(channel: str, language: str) -> None:
    check_template(channel, "waitlist_offer", language)  # type: ignore[arg-type]


def test_email_and_whatsapp_carry_the_offer() -> None:
    assert render_email("waitlist_offer", "hi", OFFER).subject == "आपके लिए स्थान उपलब्ध है"
    assert "ABCDEF12" in render_email("waitlist_offer", "en", OFFER).text
    whatsapp = render_whatsapp("waitlist_offer", "en", OFFER)
    assert whatsapp.template.name == "seva_waitlist_offer"
