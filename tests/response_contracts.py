"""Every 2xx JSON answer a test hub gives is checked against the response schema its route
documents (``@api(response=...)``, the OpenAPI document's source), so the documents cannot
drift from the wire: a mismatch fails the test that caused it (see ``conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema
from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.api_spec import spec_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Test-process state on purpose: every hub a test starts reports here, and the autouse
# fixture in conftest.py fails the test during which a mismatch appeared.
MISMATCHES: list[str] = []


def check_documented_response(request: web.Request, response: web.StreamResponse) -> str | None:
    """Why ``response`` does not fit its route's documented schema, or None."""
    if not isinstance(response, web.Response) or not 200 <= response.status < 300:
        return None
    if response.content_type != "application/json" or response.body is None:
        return None
    route = request.match_info.route
    spec = spec_of(route.handler)
    if spec is None or spec.response is None or spec.response_media_type != "application/json":
        return None
    if not isinstance(response.body, bytes | bytearray):
        return None
    where = f"{request.method} {route.resource.canonical if route.resource else request.path}"
    try:
        if isinstance(spec.response, type) and issubclass(spec.response, BaseModel):
            spec.response.model_validate_json(response.body)
        else:
            jsonschema.validate(json.loads(response.body), dict(spec.response))
    except (ValidationError, jsonschema.ValidationError) as exc:
        return f"{where} answered {response.status} outside its documented schema: {exc}"
    return None


@web.middleware
async def documented_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    problem = check_documented_response(request, response)
    if problem is not None:
        MISMATCHES.append(problem)
    return response


def install(app: web.Application) -> None:
    """Outermost, so it sees the answer exactly as it goes on the wire."""
    app.middlewares.insert(0, documented_responses)


def take() -> list[Any]:
    found = list(MISMATCHES)
    MISMATCHES.clear()
    return found
