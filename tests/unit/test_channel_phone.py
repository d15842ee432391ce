"""Recipients' mobile numbers: what people type becomes E.164; anything else is refused."""

from __future__ import annotations

import pytest

from protocols.channels import PermanentChannelError
from protocols.channels.phone import check_indian_mobile, msg91_mobile


@pytest.mark.parametrize(
    "typed",
    [
        "9876543210",
        "98765 43210",
        "09876543210",
        "+91-98765-43210",
        "+91 98765 43210",
        "919876543210",
        "(+91) 98765.43210",
    ],
)
def test_indian_mobile_numbers_as_typed_become_e164(typed: str) -> None:
    assert check_indian_mobile(typed) == "+919876543210"


@pytest.mark.parametrize(
    "typed",
    ["", "12345", "5876543210", "+1 415 555 0100", "98765432101", "+9198765", "98765abcde"],
)
def test_numbers_that_are_not_indian_mobiles_are_refused_for_good(typed: str) -> None:
    with pytest.raises(PermanentChannelError) as refused:
        check_indian_mobile(typed)
    assert refused.value.code == "invalid_recipient"
    assert refused.value.retryable is False


def test_msg91_takes_country_code_and_number_without_plus() -> None:
    assert msg91_mobile(check_indian_mobile("98765 43210")) == "919876543210"
