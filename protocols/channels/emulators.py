"""Local receivers for MSG91 and the WhatsApp Cloud API: one aiohttp app speaking both real
HTTP APIs, recording what it accepts, and failing on request. For tests and the embedded demo.

::

    async with run_emulator(create_channel_receiver(), port=0) as base_url:
        sms = Msg91SmsChannel(auth_key=SecretStr("k"), base_url=base_url)
        wa = WhatsAppChannel(
            token=SecretStr("t"), phone_number_id="1", base_url=f"{base_url}/v21.0"
        )

Provider routes (checked like the real APIs check them, answered in their shapes):

- ``POST /api/v5/flow`` (MSG91): header ``authkey``; ``template_id`` must be a registered
  MSG91 template (its DLT template and header are recorded with the rendered text), every
  recipient's ``mobiles`` 12 digits starting ``91`` and carrying each ``VARn`` the template has.
  ``{"type": "success", "message": "<request id>"}``.
- ``POST /{version}/{phone_number_id}/messages`` (WhatsApp): ``Authorization: Bearer``;
  ``messaging_product: "whatsapp"``, ``type: "template"``, an approved template in an approved
  language (``132001`` otherwise) with as many body parameters as it has (``132000``).
  ``{"messaging_product", "contacts": [{input, wa_id}], "messages": [{"id": "wamid..."}]}``.

Control routes (no authentication: never expose a receiver beyond localhost):

- ``GET /_receiver/messages?channel=sms|whatsapp``: ``{"messages": [...], "requests": {"sms":
  n, "whatsapp": n}}``, messages in arrival order; ``requests`` counts every provider request,
  accepted or not.
- ``DELETE /_receiver/messages``: forget messages, counts and any pending fault.
- ``POST /_receiver/faults {fail_next: N, status: 500|400|429, channel?: sms|whatsapp}``: the
  next N provider requests (of that channel, or any) answer ``status`` in the provider's error
  shape and record nothing.

Neither real API dedupes by an idempotency key, so neither does the receiver: a message sent
twice is recorded twice (WhatsApp's ``biz_opaque_callback_data`` is recorded as
``callback_data``, which is how a duplicate shows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from protocols.channels.templates import (
    SMS_TEMPLATES,
    WHATSAPP_TEMPLATES,
    DltTemplate,
    WhatsAppTemplate,
)
from protocols.gateways.emulators.common import (
    ControlError,
    random_id,
    read_control,
    read_json_object,
    run_emulator,
)
from protocols.gateways.emulators.serve import serve

ReceiverChannel = Literal["sms", "whatsapp"]


@dataclass(frozen=True)
class ReceiverConfig:
    """``msg91_auth_keys`` / ``whatsapp_tokens``: accepted credentials (empty: any non-empty
    one). The templates default to the ones the adapters send."""

    msg91_auth_keys: tuple[str, ...] = ()
    whatsapp_tokens: tuple[str, ...] = ()
    sms_templates: dict[tuple[str, str], DltTemplate] = field(
        default_factory=lambda: dict(SMS_TEMPLATES)
    )
    whatsapp_templates: dict[str, WhatsAppTemplate] = field(
        default_factory=lambda: dict(WHATSAPP_TEMPLATES)
    )


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail_next: int = Field(ge=0, le=1000)
    status: Literal[400, 429, 500, 503] = 500
    channel: ReceiverChannel | None = None


@dataclass
class _Fault:
    remaining: int
    status: int
    channel: ReceiverChannel | None


@dataclass
class _State:
    config: ReceiverConfig
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=lambda: {"sms": 0, "whatsapp": 0})
    fault: _Fault | None = None

    def take_fault(self, channel: ReceiverChannel) -> int | None:
        fault = self.fault
        if fault is None or fault.remaining <= 0:
            return None
        if fault.channel is not None and fault.channel != channel:
            return None
        fault.remaining -= 1
        if fault.remaining == 0:
            self.fault = None
        return fault.status


_STATE = web.AppKey("channel_receiver_state", _State)
_MSG91_MOBILE = re.compile(r"91[6-9]\d{9}")
_WA_TO = re.compile(r"\+?\d{8,15}")


def create_channel_receiver(config: ReceiverConfig | None = None) -> web.Application:
    """A fresh receiver app with its own record of messages."""
    app = web.Application()
    app[_STATE] = _State(config or ReceiverConfig())
    app.router.add_post("/api/v5/flow", _msg91_flow)
    app.router.add_post(r"/{version:v\d+\.\d+}/{phone_number_id}/messages", _whatsapp_messages)
    app.router.add_get("/_receiver/messages", _list_messages)
    app.router.add_delete("/_receiver/messages", _clear_messages)
    app.router.add_post("/_receiver/faults", _set_faults)
    return app


# --- MSG91 ---------------------------------------------------------------------------------


def _msg91_error(status: int, message: str) -> web.Response:
    return web.json_response({"type": "error", "message": message}, status=status)


async def _msg91_flow(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    state.requests["sms"] += 1
    key = request.headers.get("authkey", "")
    accepted = state.config.msg91_auth_keys
    if not key or (accepted and key not in accepted):
        return _msg91_error(401, "Authentication failure")
    fault = state.take_fault("sms")
    if fault is not None:
        return _msg91_error(fault, f"emulated fault ({fault})")
    try:
        body = await read_json_object(request)
    except ValueError as exc:
        return _msg91_error(400, str(exc))
    templates = {t.msg91_template_id: t for t in state.config.sms_templates.values()}
    template = templates.get(str(body.get("template_id", "")))
    if template is None:
        return _msg91_error(400, "Template ID Missing or Invalid Template")
    recipients = body.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        return _msg91_error(400, "Recipients missing")
    received_at = datetime.now(UTC).isoformat()
    request_id = random_id(length=24).lower()
    accepted_messages = []
    for recipient in recipients:
        mobiles = str(recipient.get("mobiles", "")) if isinstance(recipient, dict) else ""
        if not _MSG91_MOBILE.fullmatch(mobiles):
            return _msg91_error(400, f"Mobile number {mobiles!r} is invalid")
        names = [f"VAR{i}" for i in range(1, len(template.variables) + 1)]
        missing = [name for name in names if name not in recipient]
        if missing:
            return _msg91_error(400, f"Variables missing: {', '.join(missing)}")
        values = [str(recipient[name]) for name in names]
        accepted_messages.append(
            {
                "channel": "sms",
                "id": request_id,
                "received_at": received_at,
                "to": mobiles,
                "template_id": template.msg91_template_id,
                "dlt_template_id": template.template_id,
                "sender": str(body.get("sender") or template.sender_id),
                "short_url": str(body.get("short_url", "0")),
                "variables": values,
                "text": template.fill(values),
                "request": body,
            }
        )
    state.messages.extend(accepted_messages)
    return web.json_response({"type": "success", "message": request_id})


# --- WhatsApp Cloud API --------------------------------------------------------------------


def _whatsapp_error(status: int, code: int, message: str, details: str = "") -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details or message},
                "fbtrace_id": random_id(length=22),
            }
        },
        status=status,
    )


_FAULT_CODES = {400: 100, 429: 130429, 500: 131000, 503: 131016}


async def _whatsapp_messages(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    state.requests["whatsapp"] += 1
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    accepted = state.config.whatsapp_tokens
    if not token or (accepted and token not in accepted):
        return _whatsapp_error(401, 190, "Invalid OAuth access token.")
    fault = state.take_fault("whatsapp")
    if fault is not None:
        return _whatsapp_error(fault, _FAULT_CODES[fault], f"emulated fault ({fault})")
    try:
        body = await read_json_object(request)
    except ValueError as exc:
        return _whatsapp_error(400, 100, "Invalid parameter", str(exc))
    if body.get("messaging_product") != "whatsapp":
        return _whatsapp_error(400, 100, "Invalid parameter", "messaging_product")
    to = str(body.get("to", ""))
    if not _WA_TO.fullmatch(to):
        return _whatsapp_error(400, 131030, "Recipient phone number not valid")
    if body.get("type") != "template":
        # Outside a 24-hour customer service window only templates may be sent.
        return _whatsapp_error(400, 131047, "Re-engagement message")
    template_body = body.get("template")
    if not isinstance(template_body, dict):
        return _whatsapp_error(400, 100, "Invalid parameter", "template")
    name = str(template_body.get("name", ""))
    code = str((template_body.get("language") or {}).get("code", ""))
    templates = {t.name: t for t in state.config.whatsapp_templates.values()}
    template = templates.get(name)
    if template is None or code not in template.languages:
        return _whatsapp_error(
            404, 132001, "Template name does not exist in the translation", f"{name} ({code})"
        )
    parameters: list[str] = []
    for component in template_body.get("components") or []:
        if isinstance(component, dict) and component.get("type") == "body":
            for parameter in component.get("parameters") or []:
                text = parameter.get("text") if isinstance(parameter, dict) else None
                if not isinstance(text, str) or not text or "\n" in text or "\t" in text:
                    return _whatsapp_error(400, 132018, "There was an issue with the parameters")
                parameters.append(text)
    if len(parameters) != len(template.parameters):
        return _whatsapp_error(
            400,
            132000,
            "Number of parameters does not match the expected number of params",
            f"expected {len(template.parameters)}, got {len(parameters)}",
        )
    message_id = "wamid." + random_id(length=40)
    state.messages.append(
        {
            "channel": "whatsapp",
            "id": message_id,
            "received_at": datetime.now(UTC).isoformat(),
            "phone_number_id": request.match_info["phone_number_id"],
            "to": to,
            "template": name,
            "language": code,
            "parameters": parameters,
            "callback_data": body.get("biz_opaque_callback_data"),
            "request": body,
        }
    )
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to.removeprefix("+")}],
            "messages": [{"id": message_id, "message_status": "accepted"}],
        }
    )


# --- control -------------------------------------------------------------------------------


async def _list_messages(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    channel = request.query.get("channel")
    messages = state.messages
    if channel is not None:
        messages = [m for m in messages if m["channel"] == channel]
    return web.json_response({"messages": messages, "requests": state.requests})


async def _clear_messages(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    state.messages.clear()
    state.requests = {"sms": 0, "whatsapp": 0}
    state.fault = None
    return web.json_response({"messages": [], "requests": state.requests})


async def _set_faults(request: web.Request) -> web.Response:
    try:
        fault = await read_control(request, FaultRequest)
    except ControlError as exc:
        return exc.response()
    state = request.app[_STATE]
    state.fault = _Fault(fault.fail_next, fault.status, fault.channel) if fault.fail_next else None
    return web.json_response(fault.model_dump())


# --- as a process --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m protocols.channels.emulators --port 9201``: prints ``{"url": ...}`` once
    listening and serves until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m protocols.channels.emulators",
        description="Local MSG91 and WhatsApp Cloud API receivers (control API: /_receiver).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    def announce(base_url: str) -> None:
        print(json.dumps({"url": base_url}), flush=True)

    asyncio.run(serve(create_channel_receiver(), args.host, args.port, ready=announce))
    return 0


__all__ = ["ReceiverConfig", "create_channel_receiver", "main", "run_emulator"]

if __name__ == "__main__":
    sys.exit(main())
