"""A local SMTP server (aiosmtpd) that records what it accepts and fails on request, for tests.

::

    with run_smtp_receiver() as smtp:
        channel = EmailChannel(host=smtp.host, port=smtp.port, sender="noreply@seva.test",
                               tls="none")
        ...
        smtp.messages[0].message["Subject"]

``run_smtp_receiver(username=..., password=...)`` checks AUTH (PLAIN/LOGIN, without TLS:
loopback only). ``smtp.fail_next(n, code)`` answers the next ``n`` messages with ``code``
(``451``: deferred, ``550``: refused) at DATA. The server runs in its own thread
(aiosmtpd's ``Controller``), so it works from synchronous and asynchronous tests alike.
aiosmtpd is a test dependency (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

_REPLIES = {
    421: "421 4.3.2 Service not available (emulated)",
    451: "451 4.3.0 Temporary failure, try again later (emulated)",
    452: "452 4.2.2 Mailbox full (emulated)",
    550: "550 5.1.1 Mailbox unavailable (emulated)",
    554: "554 5.7.1 Message rejected (emulated)",
}


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes


class RecordingHandler:
    """aiosmtpd handler: keeps every accepted message; refuses the next ones on request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._failures: list[int] = []

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def fail_next(self, count: int, code: int = 451) -> None:
        if code not in _REPLIES:
            raise ValueError(f"fail_next: code {code} not one of {sorted(_REPLIES)}")
        with self._lock:
            self._failures = [code] * count

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._failures:
                return _REPLIES[self._failures.pop(0)]
            raw = bytes(envelope.original_content or envelope.content)
            message = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
            self._messages.append(
                ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), message, raw)
            )
        return "250 2.0.0 Message accepted for delivery"


@dataclass(frozen=True)
class SmtpReceiver:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    def fail_next(self, count: int, code: int = 451) -> None:
        self.handler.fail_next(count, code)


@contextmanager
def run_smtp_receiver(
    *, host: str = "127.0.0.1", username: str | None = None, password: str | None = None
) -> Iterator[SmtpReceiver]:
    """Serve SMTP on a free port of ``host`` until the block ends."""
    handler = RecordingHandler()
    options: dict[str, Any] = {}
    if username is not None:

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == username
                and auth_data.password.decode() == (password or "")
            )
            # handled=False: aiosmtpd answers itself (235, or 535 on a wrong password).
            return AuthResult(success=ok, handled=False)

        # AUTH is offered without TLS (loopback); not required, or aiosmtpd warns on each session.
        options = {"authenticator": authenticate, "auth_require_tls": False}
    controller = Controller(handler, hostname=host, port=_free_port(host), **options)
    controller.start()
    try:
        yield SmtpReceiver(host=host, port=controller.port, handler=handler)
    finally:
        controller.stop()


def _free_port(host: str) -> int:
    # aiosmtpd's Controller connects to its own port to check it started, so it needs the
    # number up front; the tiny window before it binds is acceptable in tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
