"""Attendance QR tokens: signed, short-lived, bound to a user and a tenant."""

from __future__ import annotations

import uuid

import pytest

from hub.attendance_qr import QrTokens
from protocols.errors import Invalid

KEY = b"k" * 32


def _token(tokens: QrTokens, now: float) -> str:
    return tokens.encode(tokens.issue(user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), now=now))


def test_a_token_verifies_until_it_expires() -> None:
    tokens = QrTokens(KEY, ttl_secs=60)
    user, tenant = uuid.uuid4(), uuid.uuid4()
    token = tokens.encode(tokens.issue(user_id=user, tenant_id=tenant, now=1000))
    identity = tokens.verify(token, now=1059)
    assert (identity.user_id, identity.tenant_id, identity.expires_at) == (user, tenant, 1060)
    with pytest.raises(Invalid) as late:
        tokens.verify(token, now=1061)
    assert late.value.details == {"reason": "qr_expired"}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: t.replace(t.split(".")[3], str(int(t.split(".")[3]) + 3600)),  # expiry
        lambda t: ".".join([*t.split(".")[:1], uuid.uuid4().hex, *t.split(".")[2:]]),  # user
    ],
)
def test_an_altered_token_is_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    tokens = QrTokens(KEY, ttl_secs=60)
    with pytest.raises(Invalid) as bad:
        tokens.verify(mangle(_token(tokens, 1000)), now=1001)
    assert bad.value.details == {"reason": "qr_signature"}


def test_another_key_or_garbage_is_refused() -> None:
    token = _token(QrTokens(KEY, ttl_secs=60), 1000)
    with pytest.raises(Invalid) as other:
        QrTokens(b"x" * 32, ttl_secs=60).verify(token, now=1001)
    assert other.value.details == {"reason": "qr_signature"}
    for garbage in ("", "v1.a.b", "v2." + token[3:], "hello world"):
        with pytest.raises(Invalid) as bad:
            QrTokens(KEY, ttl_secs=60).verify(garbage, now=1001)
        assert bad.value.details["reason"] in ("qr_malformed", "qr_signature")
