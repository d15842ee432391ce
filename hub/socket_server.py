"""Building the Socket.IO server: transport options, wire codec and the client manager.

One place decides how the hub's Socket.IO server is configured, so the app, the benchmarks and
the tests all run the same server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import socketio

from hub.cors import CorsPolicy
from hub.redis_manager import build_client_manager
from hub.settings import Settings
from hub.wire_json import WIRE_JSON


class SevaSocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """``AsyncServer`` that tells :attr:`on_emit` (when set) the event name of every emit it
    sends (metrics: one per emit, whatever the number of recipients)."""

    on_emit: Callable[[str], None] | None = None

    async def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        if self.on_emit is not None:
            self.on_emit(event)
        await super().emit(event, *args, **kwargs)


def build_socket_server(settings: Settings) -> SevaSocketServer:
    """The hub's ``AsyncServer`` (not yet attached to an app).

    Heartbeats: the server pings every ``socket_ping_interval_secs`` and drops a client that
    has not answered within ``socket_ping_timeout_secs`` (README "Limits" says why these).
    The wire codec is orjson; python-socketio keeps it on its packet classes, so it applies
    to every Socket.IO server and client in the process."""
    return SevaSocketServer(
        async_mode="aiohttp",
        cors_allowed_origins=CorsPolicy.from_settings(settings).allows_socket,
        cors_credentials=False,
        ping_interval=settings.socket_ping_interval_secs,
        ping_timeout=settings.socket_ping_timeout_secs,
        json=WIRE_JSON,
        max_http_buffer_size=settings.max_socket_payload_bytes,
        logger=False,
        engineio_logger=False,
        client_manager=build_client_manager(settings),
    )
