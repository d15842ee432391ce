"""The AsyncAPI 3.0 document of the Socket.IO contract (namespace ``/``).

Operations are written from the hub's side, as AsyncAPI 3 defines ``action``: a client → server
event is an operation the hub ``receive``\\ s, with the Socket.IO acknowledgement as its
``reply``; a server → client event is one it ``send``\\ s. Client events and their payload
models come from the running :class:`hub.sockets.SocketGateway` (every event registered through
``register``/``handle``), server events from :data:`protocols.server_events.SERVER_EVENTS`;
schemas are the pydantic models' JSON schemas under ``components/schemas``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hub.openapi import app_version, error_schema, roles_with
from hub.sockets import EVENT_PERMISSIONS
from protocols.api_responses import WalletList
from protocols.holds import HoldView
from protocols.permissions import Perm
from protocols.server_events import SERVER_EVENTS

ASYNCAPI_VERSION = "3.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"
CHANNEL = "socketio"
ACKS = "acks"

# Ack ``data`` whose shape is a protocols model; the others are documented in the README.
ACK_DATA: dict[str, type[BaseModel]] = {
    "hold:create": HoldView,
    "hold:release": HoldView,
    "wallet:get": WalletList,
}


def message_id(event: str) -> str:
    """AsyncAPI component keys allow ``[A-Za-z0-9._-]``: ``hold:create`` → ``hold.create``."""
    return event.replace(":", ".")


def build_asyncapi(client_events: dict[str, type[BaseModel]]) -> dict[str, Any]:
    """The whole document as JSON-ready data, for the client events registered on a gateway
    (``SocketGateway.client_events``) and every declared server event."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for model in client_events.values():
        wanted[(model, "validation")] = None
    for model in ACK_DATA.values():
        wanted[(model, "serialization")] = None
    for server_event in SERVER_EVENTS.values():
        wanted[(server_event.model, "serialization")] = None
    refs, top = models_json_schema(list(wanted), ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas.update(_error_schemas())

    messages: dict[str, Any] = {}
    channel_messages: dict[str, Any] = {}
    ack_messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event, model in sorted(client_events.items()):
        mid = message_id(event)
        perm = EVENT_PERMISSIONS.get(event, Perm.AUTHENTICATED)
        messages[mid] = {
            "name": event,
            "title": f"{event} (client → server)",
            "payload": refs[(model, "validation")],
        }
        data = (
            refs[(ACK_DATA[event], "serialization")]
            if event in ACK_DATA
            else {"description": "see README.md for this event's ack data"}
        )
        messages[f"{mid}.ack"] = {
            "name": f"{event} ack",
            "title": f"Acknowledgement of {event}",
            "payload": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["ok", "data"],
                        "properties": {"ok": {"const": True}, "data": data},
                    },
                    {"$ref": "#/components/schemas/ErrorAck"},
                ]
            },
        }
        channel_messages[mid] = {"$ref": f"#/components/messages/{mid}"}
        ack_messages[f"{mid}.ack"] = {"$ref": f"#/components/messages/{mid}.ack"}
        operations[f"client.{mid}"] = {
            "action": "receive",
            "title": event,
            "summary": f"Client sends {event}; needs permission {perm} "
            f"(roles: {', '.join(roles_with(perm))})",
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{mid}"}],
            "reply": {
                "channel": {"$ref": f"#/channels/{ACKS}"},
                "messages": [{"$ref": f"#/channels/{ACKS}/messages/{mid}.ack"}],
            },
            "x-seva-permission": str(perm),
        }
    for event, spec in sorted(SERVER_EVENTS.items()):
        mid = f"server.{message_id(event)}"
        messages[mid] = {
            "name": event,
            "title": f"{event} (server → client)",
            "summary": spec.summary,
            "payload": refs[(spec.model, "serialization")],
        }
        channel_messages[mid] = {"$ref": f"#/components/messages/{mid}"}
        operations[mid] = {
            "action": "send",
            "title": event,
            "summary": f"{spec.summary} (to {spec.room})",
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{mid}"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Seva Hub Socket.IO API",
            "version": app_version(),
            "description": "Socket.IO (engine.io v4) on namespace `/` at path `/socket.io/`. "
            'Connect with handshake `auth: {"token": "<access JWT>"}`; a refused handshake\'s '
            "connect_error data is `{code, message, details}`. Every client event takes one "
            "JSON object and answers an acknowledgement `{ok: true, data}` or `{ok: false, "
            "error: {code, message, details}}`. Operations are written from the hub's side: "
            "`receive` = a client → server event (its `reply` is the ack), `send` = a server "
            "→ client event. The REST API is at /api/v1/openapi.json.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "hub": {
                "host": "localhost:8080",
                "protocol": "ws",
                "pathname": "/socket.io/",
                "description": "Any Seva Hub process (`seva serve`); long-polling works too.",
                "security": [{"$ref": "#/components/securitySchemes/handshakeToken"}],
            }
        },
        "channels": {
            CHANNEL: {
                "address": "/",
                "title": "Socket.IO namespace /",
                "servers": [{"$ref": "#/servers/hub"}],
                "messages": channel_messages,
                "bindings": {"ws": {"method": "GET", "bindingVersion": "0.1.0"}},
                "x-socketio": {"namespace": "/", "path": "/socket.io/", "engineio": 4},
            },
            ACKS: {
                "address": None,
                "title": "Socket.IO acknowledgements",
                "description": "The ack callback of the client event being answered.",
                "servers": [{"$ref": "#/servers/hub"}],
                "messages": ack_messages,
            },
        },
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {
                "handshakeToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": 'The access token, sent as the handshake `auth: {"token": '
                    '"<access JWT>"}` (not as a header); renew with session:renew.',
                }
            },
        },
    }


def _error_schemas() -> dict[str, Any]:
    return {
        "Error": error_schema(),
        "ErrorAck": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ok", "error"],
            "properties": {"ok": {"const": False}, "error": {"$ref": "#/components/schemas/Error"}},
        },
    }
