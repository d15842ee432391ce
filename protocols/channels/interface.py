"""The outbound message channel contract: email, SMS and WhatsApp.

One :class:`Channel` per channel name, built once at startup by :func:`build_channels` from the
settings and passed to whoever dispatches deliveries (no singletons). Adapters:
``smtp.EmailChannel`` (SMTP through aiosmtplib), ``msg91.Msg91SmsChannel`` (MSG91 v5 flow API),
``whatsapp.WhatsAppChannel`` (WhatsApp Cloud API); in tests they talk to an aiosmtpd server and
to the local receivers in ``emulators.py``.

Contract every adapter keeps:

- ``send`` renders the message from the registered templates (``templates.py``) in the
  message's language, falling back to English; a kind without a template for the channel is
  refused *before* anything goes over the network (``check_template``).
- Errors are translated at the adapter, and nothing else escapes ``send``::

      ChannelError (code, message, details, retryable)
      ├── RetryableChannelError  provider_unavailable  unreachable, timeout, 429, 5xx, SMTP 4xx,
      │                                                unreadable answer: send again later
      └── PermanentChannelError  template_not_registered | invalid_recipient | invalid_data |
                                 provider_rejected       other 4xx, SMTP 5xx: do not resend

- A retryable error leaves the outcome unknown (the provider may have sent it). Providers that
  accept an idempotency key get :attr:`OutboundMessage.idempotency_key`; see each adapter for
  what its provider guarantees. The dispatcher dedupes on its side by ``delivery_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol
from uuid import UUID

from pydantic import SecretStr

ChannelName = Literal["email", "sms", "whatsapp"]
CHANNEL_NAMES: tuple[ChannelName, ...] = ("email", "sms", "whatsapp")
SmtpTls = Literal["starttls", "implicit", "none"]


@dataclass(frozen=True)
class OutboundMessage:
    """One delivery of one notification over one channel.

    ``recipient``: an email address for ``email``; an Indian mobile number in any usual format
    for ``sms`` and ``whatsapp`` (normalized to E.164 by the adapter). ``language``: ``en``,
    ``hi``, ...; a language without a template falls back to ``en``. ``data``: the template
    parameters (``booking_id``, ``amount_paise``, ``title``/``body`` for ``system``, links such
    as ``report_url`` / ``download_url`` / ``stream_url``); a missing parameter renders empty.
    Files are never attached: an email carries their links.
    """

    delivery_id: UUID
    idempotency_key: str
    kind: str
    language: str
    recipient: str
    data: dict[str, Any]


@dataclass(frozen=True)
class SendResult:
    """``provider_message_id``: the provider's id of the accepted message (SMTP: the
    ``Message-ID`` we set; MSG91: the request id; WhatsApp: ``messages[0].id``)."""

    provider_message_id: str | None


class ChannelError(Exception):
    """A message that was not (known to be) sent. ``retryable`` says whether sending the same
    message again later can succeed; ``code`` is one of the codes in the module docstring.
    Survives pickling (Ray)."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.message, self.code, self.details))

    def to_wire(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _rebuild_error(cls: type[ChannelError], message: str, code: str, details: Any) -> ChannelError:
    return cls(message, code=code, details=details)


class RetryableChannelError(ChannelError):
    retryable = True


class PermanentChannelError(ChannelError):
    retryable = False


class Channel(Protocol):
    name: ChannelName

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send ``message``; raises :class:`RetryableChannelError` or
        :class:`PermanentChannelError`, nothing else."""
        ...

    async def aclose(self) -> None:
        """Release connections; the channel is not used afterwards."""
        ...


class ChannelSettings(Protocol):
    """What :func:`build_channels` reads (``hub.settings.Settings`` has these fields)."""

    @property
    def smtp_host(self) -> str | None: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_username(self) -> str | None: ...
    @property
    def smtp_password(self) -> SecretStr | None: ...
    @property
    def smtp_tls(self) -> SmtpTls: ...
    @property
    def smtp_from(self) -> str | None: ...
    @property
    def msg91_base_url(self) -> str: ...
    @property
    def msg91_auth_key(self) -> SecretStr | None: ...
    @property
    def msg91_sender_id(self) -> str | None: ...
    @property
    def whatsapp_base_url(self) -> str: ...
    @property
    def whatsapp_token(self) -> SecretStr | None: ...
    @property
    def whatsapp_phone_number_id(self) -> str | None: ...
    @property
    def channel_timeout_secs(self) -> float: ...


def check_template(channel: ChannelName, kind: str, language: str) -> None:
    """Refuse a message that has no registered template for ``channel`` (after the fallback to
    English): :class:`PermanentChannelError` with code ``template_not_registered``. SMS needs a
    DLT-registered template per kind; ``system`` notices and ``credits_low`` have none."""
    from protocols.channels import templates  # templates imports this module's errors

    templates.check_registered(channel, kind, language)


def build_channels(settings: ChannelSettings) -> dict[ChannelName, Channel]:
    """The channels whose settings are configured: ``email`` with ``smtp_host`` and
    ``smtp_from``; ``sms`` with ``msg91_auth_key``; ``whatsapp`` with ``whatsapp_token`` and
    ``whatsapp_phone_number_id``. Connects to nothing: clients are opened on first send."""
    # The adapters import this module, so they are imported here rather than at the top.
    from protocols.channels.msg91 import Msg91SmsChannel
    from protocols.channels.smtp import EmailChannel
    from protocols.channels.whatsapp import WhatsAppChannel

    channels: dict[ChannelName, Channel] = {}
    timeout_secs = settings.channel_timeout_secs
    if settings.smtp_host and settings.smtp_from:
        channels["email"] = EmailChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_secs=timeout_secs,
        )
    if settings.msg91_auth_key is not None:
        channels["sms"] = Msg91SmsChannel(
            base_url=settings.msg91_base_url,
            auth_key=settings.msg91_auth_key,
            sender_id=settings.msg91_sender_id,
            timeout_secs=timeout_secs,
        )
    if settings.whatsapp_token is not None and settings.whatsapp_phone_number_id:
        channels["whatsapp"] = WhatsAppChannel(
            base_url=settings.whatsapp_base_url,
            token=settings.whatsapp_token,
            phone_number_id=settings.whatsapp_phone_number_id,
            timeout_secs=timeout_secs,
        )
    return channels
