"""Building the Socket.IO server: transport options, wire codec and the client manager.

One place decides how the hub's Socket.IO server is configured, so the app, the benchmarks and
the tests all run the same server.
"""

from __future__ import annotations

import socketio

from hub.redis_manager import build_client_manager
from hub.settings import Settings


def build_socket_server(settings: Settings) -> socketio.AsyncServer:
    """The hub's ``AsyncServer`` (not yet attached to an app)."""
    return socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins="*",
        max_http_buffer_size=settings.max_socket_payload_bytes,
        logger=False,
        engineio_logger=False,
        client_manager=build_client_manager(settings),
    )
