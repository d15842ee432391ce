"""Small helpers every REST view uses: parse a JSON body into a model, answer a model."""

from __future__ import annotations

import json
from typing import TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from hub.wire_json import dumps_str
from protocols.errors import Invalid

M = TypeVar("M", bound=BaseModel)


async def json_body(request: web.Request, model: type[M]) -> M:
    """Raises 400 ``invalid`` for a body that is not JSON, 422 for one that does not fit."""
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parser's stack (e.g. 20,000 "[").
        raise web.HTTPBadRequest(reason="body is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise Invalid("body must be a JSON object")
    return model.model_validate(raw)


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status, dumps=dumps_str)


def path_uuid(request: web.Request, name: str) -> UUID:
    try:
        return UUID(request.match_info[name])
    except ValueError as exc:
        raise Invalid(f"{name} is not a UUID", {"loc": ["path", name]}) from exc


def query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Invalid(f"{name} must be an integer", {"loc": ["query", name]}) from exc
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}", {"loc": ["query", name]})
    return value


def idempotency_key(request: web.Request, body_key: str | None, *, field: str) -> str:
    """The client's idempotency key, from the ``Idempotency-Key`` header or the body's
    ``field``; both given must agree. Printable ASCII without spaces, at most 128."""
    header = request.headers.get("Idempotency-Key")
    if header is not None and body_key is not None and header != body_key:
        raise Invalid(f"Idempotency-Key header and body {field} differ")
    key = body_key or header
    if key is None:
        raise Invalid(f"an idempotency key is required (Idempotency-Key header or {field})")
    if len(key) > 128 or not key.isascii() or not key.isprintable() or " " in key:
        raise Invalid(f"the {field} must be printable ASCII without spaces, at most 128")
    return key
