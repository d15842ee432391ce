"""Email over SMTP (aiosmtplib): one connection per message, multipart/alternative text + HTML.

``Message-ID`` is derived from the delivery's idempotency key, so a message sent twice (a retry
after an unknown outcome) carries the same id and the copies are recognizable as one message
(mail clients and most providers collapse them). SMTP itself has no idempotency: the dispatcher
dedupes on its side. Files travel as links in the text (``templates.render_email``).

Errors: a 4xx reply, a refused connection, a dropped connection or a timeout is retryable; a
5xx reply (unknown mailbox, refused sender, failed authentication) is permanent, as is a server
that cannot do what ``tls`` asks for (a configuration error resending cannot fix).
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib
from pydantic import SecretStr

from protocols.channels.interface import (
    ChannelError,
    ChannelName,
    OutboundMessage,
    PermanentChannelError,
    RetryableChannelError,
    SendResult,
    SmtpTls,
)
from protocols.channels.templates import render_email


class EmailChannel:
    name: ChannelName = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        tls: SmtpTls = "starttls",
        username: str | None = None,
        password: SecretStr | None = None,
        timeout_secs: float = 10.0,
    ) -> None:
        """``sender``: the ``From`` header (``Seva Hub <noreply@example.in>`` or a bare address).
        ``tls``: ``starttls`` (port 587), ``implicit`` (port 465) or ``none`` (local test
        servers only). ``timeout_secs`` bounds each SMTP step."""
        envelope_from = parseaddr(sender)[1]
        if "@" not in envelope_from:
            raise ValueError(f"smtp sender {sender!r} has no address")
        self._host = host
        self._port = port
        self._sender = sender
        self._envelope_from = envelope_from
        self._domain = envelope_from.rsplit("@", 1)[1]
        self._tls = tls
        self._username = username
        self._password = password
        self._timeout_secs = timeout_secs

    async def send(self, message: OutboundMessage) -> SendResult:
        recipient = _check_address(message.recipient)
        email = self.build(message, recipient)
        try:
            await aiosmtplib.send(
                email,
                sender=self._envelope_from,
                recipients=[recipient],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password.get_secret_value() if self._password else None,
                use_tls=self._tls == "implicit",
                start_tls=self._tls == "starttls",
                timeout=self._timeout_secs,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise _by_code(min(codes, default=550), str(exc), codes=codes) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, exc.message, codes=[exc.code]) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise PermanentChannelError(
                f"the SMTP server cannot do this: {exc.message}", code="provider_rejected"
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Connect/read timeouts, refused or dropped connections, TLS handshake failures.
            raise RetryableChannelError(
                f"SMTP server unreachable: {exc}", code="provider_unavailable"
            ) from exc
        return SendResult(provider_message_id=str(email["Message-ID"]))

    def build(self, message: OutboundMessage, recipient: str) -> EmailMessage:
        """The MIME message that :meth:`send` submits (multipart/alternative, UTF-8)."""
        rendered = render_email(message.kind, message.language, message.data)
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = recipient
        email["Subject"] = rendered.subject
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id(message.idempotency_key, self._domain)
        email["X-Seva-Delivery-Id"] = str(message.delivery_id)
        email.set_content(rendered.text)
        email.add_alternative(rendered.html, subtype="html")
        # After add_alternative, which moves Content-* headers into the first part.
        email["Content-Language"] = rendered.language
        return email

    async def aclose(self) -> None:
        """Nothing to release: each message uses its own SMTP connection."""


def message_id(idempotency_key: str, domain: str) -> str:
    """``<hex@domain>``, the same for every send of one delivery."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}.seva@{domain}>"


def _check_address(raw: str) -> str:
    address = parseaddr(raw)[1]
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or address != raw.strip()
        or any(c.isspace() or c in "<>," for c in address)
    ):
        raise PermanentChannelError(
            "the recipient is not an email address", code="invalid_recipient"
        )
    return address


def _by_code(code: int, text: str, *, codes: list[int]) -> ChannelError:
    details = {"smtp_codes": codes}
    if 400 <= code < 500:
        return RetryableChannelError(
            f"SMTP server deferred the message: {code} {text}",
            code="provider_unavailable",
            details=details,
        )
    return PermanentChannelError(
        f"SMTP server refused the message: {code} {text}",
        code="provider_rejected",
        details=details,
    )
