"""SMS through MSG91's v5 flow API (``POST {base}/api/v5/flow``, header ``authkey``).

The body names the MSG91 template that carries the DLT-registered text and, per recipient,
``mobiles`` (country code and number, digits only) and the template's variables ``VAR1``...::

    {"template_id": "...", "sender": "SEVAHB", "short_url": "0",
     "recipients": [{"mobiles": "919876543210", "VAR1": "3F2A9C1B"}]}

MSG91 answers ``{"type": "success", "message": "<request id>"}``; the request id is the
provider message id. ``{"type": "error", "message": ...}`` (with 200 or a 4xx) is permanent; 429,
5xx, timeouts and unreadable answers are retryable.

Idempotency: the flow API takes no idempotency key and does not dedupe, so a retry after an
unknown outcome can send the SMS twice; the dispatcher dedupes by delivery before sending.
A kind without a DLT template is refused before any request (``template_not_registered``).
"""

from __future__ import annotations

from pydantic import SecretStr

from protocols.channels.interface import (
    ChannelName,
    OutboundMessage,
    PermanentChannelError,
    RetryableChannelError,
    SendResult,
)
from protocols.channels.phone import check_indian_mobile, msg91_mobile
from protocols.channels.provider_http import ProviderHttp
from protocols.channels.templates import SMS_TEMPLATES, DltTemplate, render_sms

PRODUCTION_BASE_URL = "https://control.msg91.com"
FLOW_PATH = "/api/v5/flow"


class Msg91SmsChannel:
    name: ChannelName = "sms"

    def __init__(
        self,
        *,
        auth_key: SecretStr,
        base_url: str = PRODUCTION_BASE_URL,
        sender_id: str | None = None,
        timeout_secs: float = 10.0,
        templates: dict[tuple[str, str], DltTemplate] = SMS_TEMPLATES,
    ) -> None:
        """``sender_id``: the DLT header to send from, overriding each template's own (an
        account whose templates are registered under another header)."""
        self._sender_id = sender_id
        self._templates = templates
        self._http = ProviderHttp(
            provider="msg91",
            base_url=base_url,
            headers={"authkey": auth_key.get_secret_value(), "accept": "application/json"},
            timeout_secs=timeout_secs,
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        # Both checks come before any request: a refused message costs nothing.
        rendered = render_sms(message.kind, message.language, message.data, self._templates)
        mobile = msg91_mobile(check_indian_mobile(message.recipient))
        template = rendered.template
        body = {
            "template_id": template.msg91_template_id,
            "sender": self._sender_id or template.sender_id,
            "short_url": "1" if template.short_url else "0",
            "recipients": [{"mobiles": mobile, **rendered.msg91_variables()}],
        }
        answer = await self._http.post_json(FLOW_PATH, body)
        if answer.status == 429 or answer.status >= 500:
            raise self._http.status_error(answer)
        if not isinstance(answer.body, dict):
            raise RetryableChannelError(
                f"msg91 answered {answer.status} with an unreadable body",
                code="provider_unavailable",
                details={"status": answer.status},
            )
        if answer.status >= 400 or answer.body.get("type") != "success":
            raise PermanentChannelError(
                f"msg91 refused the message: {answer.body.get('message')}",
                code="provider_rejected",
                details={"status": answer.status, "provider": "msg91", "answer": answer.body},
            )
        request_id = answer.body.get("message")
        return SendResult(provider_message_id=str(request_id) if request_id else None)

    async def aclose(self) -> None:
        await self._http.aclose()
