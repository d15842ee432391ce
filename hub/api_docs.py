"""Serves the API documents: ``GET /api/v1/openapi.json`` (REST, OpenAPI 3.1),
``GET /api/v1/asyncapi.json`` (Socket.IO, AsyncAPI 3.0) and ``GET /api/docs``, a self-contained
HTML page that renders both (no CDN: it works offline).

The documents are built from the running app on first request and kept: the router and the
registered Socket.IO events do not change after startup.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub import keys
from hub.api_docs_page import DOCS_PAGE
from hub.api_spec import api
from hub.asyncapi import build_asyncapi
from hub.guard import requires
from hub.openapi import build_openapi
from hub.wire_json import dumps_str
from protocols.errors import Unavailable
from protocols.permissions import Perm

routes = web.RouteTableDef()

DOCUMENT_SCHEMA: dict[str, Any] = {"type": "object", "description": "The JSON document"}


@dataclass
class ApiDocuments:
    built: dict[str, str] = field(default_factory=dict)


API_DOCUMENTS = web.AppKey("api_documents", ApiDocuments)


def install(app: web.Application) -> None:
    """Add the document routes and their cache to ``app`` (before it starts)."""
    app[API_DOCUMENTS] = ApiDocuments()
    app.add_routes(routes)


def _json(text: str) -> web.Response:
    return web.Response(
        text=text, content_type="application/json", headers={"Cache-Control": "no-cache"}
    )


@routes.get("/api/v1/openapi.json")
@api("The OpenAPI 3.1 document of this REST API", tags="docs", response=DOCUMENT_SCHEMA)
@requires(Perm.PUBLIC)
async def openapi_document(request: web.Request) -> web.Response:
    cache = request.app[API_DOCUMENTS].built
    if "openapi" not in cache:
        # ~0.2 s of CPU once per process: off the event loop.
        document = await asyncio.to_thread(build_openapi, request.app)
        cache["openapi"] = dumps_str(document)
    return _json(cache["openapi"])


@routes.get("/api/v1/asyncapi.json")
@api(
    "The AsyncAPI 3.0 document of the Socket.IO contract",
    tags="docs",
    response=DOCUMENT_SCHEMA,
    errors=("unavailable",),
)
@requires(Perm.PUBLIC)
async def asyncapi_document(request: web.Request) -> web.Response:
    cache = request.app[API_DOCUMENTS].built
    if "asyncapi" not in cache:
        gateway = request.app.get(keys.SOCKETS)
        if gateway is None:
            raise Unavailable("the Socket.IO gateway has not started yet")
        document = await asyncio.to_thread(build_asyncapi, gateway.client_events)
        cache["asyncapi"] = dumps_str(document)
    return _json(cache["asyncapi"])


@routes.get("/api/docs")
@api(
    "An HTML page that renders both documents",
    tags="docs",
    response={"type": "string"},
    response_media_type="text/html",
)
@requires(Perm.PUBLIC)
async def docs_page(_request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")
