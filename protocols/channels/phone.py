"""Recipients' mobile numbers: Indian numbers in E.164, and the forms providers want."""

from __future__ import annotations

from protocols.auth import normalize_indian_mobile
from protocols.channels.interface import PermanentChannelError


def check_indian_mobile(raw: str) -> str:
    """``raw`` as E.164 (``+91`` and ten digits starting 6-9) from what people type
    (``98765 43210``, ``09876543210``, ``+91-98765-43210``, ``919876543210``).

    Raises :class:`PermanentChannelError` (``invalid_recipient``): resending cannot fix it.
    """
    try:
        return normalize_indian_mobile(raw)
    except ValueError as exc:
        raise PermanentChannelError(
            "the recipient is not an Indian mobile number",
            code="invalid_recipient",
            details={"reason": str(exc)},
        ) from exc


def msg91_mobile(e164: str) -> str:
    """MSG91's ``mobiles``: country code and number, digits only (``919876543210``)."""
    return e164.removeprefix("+")
