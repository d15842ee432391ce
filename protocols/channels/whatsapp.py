"""WhatsApp through the Cloud API (``POST {base}/{phone_number_id}/messages``, bearer token).

Every message is an approved template (a business may not start a conversation with free
text)::

    {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+919876543210",
     "type": "template",
     "template": {"name": "seva_booking_confirmed", "language": {"code": "hi"},
                  "components": [{"type": "body",
                                  "parameters": [{"type": "text", "text": "3F2A9C1B"}]}]},
     "biz_opaque_callback_data": "<idempotency key>"}

The answer's ``messages[0].id`` (``wamid...``) is the provider message id. 429, 5xx, timeouts,
unreadable answers and Meta's throttling error codes (sent with 400) are retryable; other 4xx
(unknown template, wrong parameter count, bad token, invalid number) are permanent.

Idempotency: the Cloud API takes no idempotency key and does not dedupe. The key travels as
``biz_opaque_callback_data``, which Meta echoes in status webhooks so a duplicate can be
recognized there; the dispatcher dedupes by delivery before sending.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from protocols.channels.interface import (
    ChannelName,
    OutboundMessage,
    RetryableChannelError,
    SendResult,
)
from protocols.channels.phone import check_indian_mobile
from protocols.channels.provider_http import ProviderHttp
from protocols.channels.templates import render_whatsapp

PRODUCTION_BASE_URL = "https://graph.facebook.com/v21.0"
# Cloud API error codes that mean "too much, slow down" (some arrive with HTTP 400):
# 4 app rate limit, 80007 account rate limit, 130429 throughput, 131048 spam rate limit,
# 131056 too many messages to one recipient, 131016 service unavailable.
RETRYABLE_ERROR_CODES = frozenset({4, 80007, 130429, 131048, 131056, 131016})
CALLBACK_DATA_MAX_CHARS = 512


class WhatsAppChannel:
    name: ChannelName = "whatsapp"

    def __init__(
        self,
        *,
        token: SecretStr,
        phone_number_id: str,
        base_url: str = PRODUCTION_BASE_URL,
        timeout_secs: float = 10.0,
    ) -> None:
        self._path = f"/{phone_number_id}/messages"
        self._http = ProviderHttp(
            provider="whatsapp",
            base_url=base_url,
            headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            timeout_secs=timeout_secs,
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        rendered = render_whatsapp(message.kind, message.language, message.data)
        to = check_indian_mobile(message.recipient)
        template: dict[str, Any] = {
            "name": rendered.template.name,
            "language": {"code": rendered.language_code},
        }
        if rendered.parameters:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": p} for p in rendered.parameters],
                }
            ]
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": template,
            "biz_opaque_callback_data": message.idempotency_key[:CALLBACK_DATA_MAX_CHARS],
        }
        answer = await self._http.post_json(self._path, body)
        if answer.status >= 300:
            error = answer.body.get("error") if isinstance(answer.body, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            raise self._http.status_error(
                answer,
                retryable=True if code in RETRYABLE_ERROR_CODES else None,
            )
        try:
            message_id = answer.body["messages"][0]["id"]
        except (TypeError, KeyError, IndexError) as exc:
            raise RetryableChannelError(
                f"whatsapp answered {answer.status} without a message id",
                code="provider_unavailable",
                details={"status": answer.status},
            ) from exc
        return SendResult(provider_message_id=str(message_id))

    async def aclose(self) -> None:
        await self._http.aclose()
