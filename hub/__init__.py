"""The transport edge: aiohttp app, Socket.IO events, REST routes, auth, and the ``seva`` CLI."""
