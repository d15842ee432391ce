"""The study library's notification types (``fee_due``, ``plan_renewal``) and a seat plan's one
``booking_confirmed`` render on every channel, SMS by their DLT templates, in English and Hindi,
with rupees and day-first dates; adding them moved no existing DLT template id."""

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

FEE = {"amount_paise": 150_050, "due_date": "2030-01-05"}
RENEWAL = {"seat_plan_id": "9b0c1d2e-0000-4000-8000-000000000001", "plan_ends_on": "2030-02-01"}
PLAN = {
    "plan_id": "abcdef12-0000-4000-8000-000000000002",
    "seat": "Seat A-12",
    "from": "2030-01-03",
    "to": "2030-02-01",
}


def test_a_fee_due_sms_fills_its_dlt_template_with_rupees_and_the_due_date() -> None:
    english = render_sms("fee_due", "en", FEE)
    assert english.template.template_id == "1107000000000000121"
    assert english.template.msg91_template_id == "seva_fee_due_en"
    assert english.text == "Your fee of Rs 1500.50 is due on 05-01-2030. - Seva Hub"
    assert english.msg91_variables() == {"VAR1": "1500.50", "VAR2": "05-01-2030"}
    hindi = render_sms("fee_due", "hi-IN", FEE)
    assert hindi.template.template_id == "1107000000000000122"
    assert hindi.text == "आपकी ₹1500.50 की फ़ीस 05-01-2030 तक देय है। - सेवा हब"


def test_a_renewal_sms_carries_the_plan_end_date() -> None:
    english = render_sms("plan_renewal", "en", RENEWAL)
    assert english.template.template_id == "1107000000000000131"
    assert english.text == (
        "Your seat plan ends on 01-02-2030. Renew it to keep your seat. - Seva Hub"
    )
    hindi = render_sms("plan_renewal", "hi", RENEWAL)
    assert hindi.template.template_id == "1107000000000000132"
    assert hindi.values == ["01-02-2030"] and "सीट योजना" in hindi.text


@pytest.mark.parametrize("kind", ["fee_due", "plan_renewal"])
@pytest.mark.parametrize("channel", ["email", "sms", "whatsapp"])
def test_library_types_are_registered_on_every_channel(kind: str, channel: str) -> None:
    check_template(channel, kind, "hi")  # type: ignore[arg-type]


def test_library_types_render_email_and_whatsapp_in_both_languages() -> None:
    assert render_email("fee_due", "en", FEE).subject == "Fee due"
    assert "05-01-2030" in render_email("fee_due", "hi", FEE).text
    assert render_email("plan_renewal", "hi", RENEWAL).subject == "सीट योजना जल्द समाप्त होगी"
    whatsapp = render_whatsapp("fee_due", "hi", FEE)
    assert (whatsapp.template.name, whatsapp.language_code) == ("seva_fee_due", "hi")
    assert whatsapp.parameters == ["1500.50", "05-01-2030"]
    assert render_whatsapp("plan_renewal", "en", RENEWAL).parameters == ["01-02-2030"]


def test_existing_dlt_template_ids_did_not_move() -> None:
    assert SMS_TEMPLATES[("booking_confirmed", "en")].template_id == "1107000000000000011"
    assert SMS_TEMPLATES[("refund_processed", "hi")].template_id == "1107000000000000112"


def test_a_seat_plan_confirmation_names_the_plan_and_its_dates() -> None:
    inbox = render("booking_confirmed", PLAN)
    assert inbox.body == "Your seat Seat A-12 is booked from 03-01-2030 to 01-02-2030."
    assert render_sms("booking_confirmed", "en", PLAN).values == ["ABCDEF12"]
    assert render("fee_due", FEE).body == "Your fee of ₹1500.50 is due on 05-01-2030."
    assert render("plan_renewal", RENEWAL).title == "Seat plan ending soon"
