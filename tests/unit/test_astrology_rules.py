"""Pure rules of the astrology platform: meeting rooms, the reschedule fee, intake checks."""

from __future__ import annotations

import uuid

import pytest

from protocols.consultations import reschedule_fee
from protocols.errors import Invalid
from protocols.meetings import JitsiRooms, MeetingBooking, check_base_url
from protocols.report_orders import check_intake, check_schema


def _booking() -> MeetingBooking:
    return MeetingBooking(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())


def test_every_room_is_new_and_unguessable():
    rooms = JitsiRooms("https://meet.example.in/")
    links = {rooms.create_room(_booking()).url for _ in range(1000)}
    assert len(links) == 1000
    link = rooms.create_room(_booking())
    assert link.url == f"https://meet.example.in/{link.room_id}"
    assert len(link.room_id) == len("seva-") + 32 and link.provider == "jitsi"


@pytest.mark.parametrize(
    "url", ["http://meet.jit.si", "https://", "https://x.in/a?b=c", "javascript:alert(1)"]
)
def test_a_meeting_base_url_must_be_plain_https(url: str):
    with pytest.raises(ValueError):
        check_base_url(url)


def test_the_first_reschedules_are_free_then_each_costs_the_fee():
    fees = [reschedule_fee(moves_before=n, free_reschedules=1, fee_paise=500) for n in range(3)]
    assert fees == [0, 500, 500]
    assert reschedule_fee(moves_before=0, free_reschedules=0, fee_paise=500) == 500


def test_intake_errors_name_every_failing_path_without_the_value():
    schema = {
        "type": "object",
        "properties": {"birth_date": {"type": "string", "format": "date"}},
        "required": ["birth_date", "birth_place"],
    }
    check_schema(schema)
    with pytest.raises(Invalid) as caught:
        check_intake(schema, {"birth_date": "1990-13-45"})
    details = caught.value.details
    assert [d["loc"] for d in details] == [["intake"], ["intake", "birth_date"]]
    assert "1990-13-45" not in str(details)
    check_intake(schema, {"birth_date": "1990-12-31", "birth_place": "Ujjain"})
