"""What a REST handler promises on the wire, attached next to it with :func:`api`.

The decorator only records metadata on the handler (no behaviour changes); ``hub/openapi.py``
reads it to build ``/api/v1/openapi.json``, and the fuzzing tests read it to know each route's
body, query and answer. Who may call a route is not repeated here: it is the permission that
``@requires`` already declares (``hub/guard.py``).

``query`` maps each query parameter to a short type (``"string"``, ``"integer"``,
``"boolean"``, ``"uuid"``, ``"date"``, ``"date-time"``; a trailing ``"!"`` marks it required) or
is a pydantic model whose fields are the parameters. ``response`` is a pydantic model or a
JSON schema (``None``: a JSON object whose shape the README documents). ``errors`` lists error
codes of ``protocols/errors.py`` that the route answers besides the ones every route of its kind
can answer (``invalid``, ``unauthorized``, ``forbidden``, ``not_found`` for path ids,
``rate_limited``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from protocols.errors import ERROR_CODES

H = TypeVar("H", bound=Callable[..., Any])
_ATTR = "__seva_api__"

QUERY_TYPES = ("string", "integer", "boolean", "uuid", "date", "date-time")

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class ApiSpec:
    summary: str
    tags: tuple[str, ...] = ()
    body: type[BaseModel] | Schema | None = None
    body_media_type: str = "application/json"
    response: type[BaseModel] | Schema | None = None
    response_media_type: str = "application/json"
    status: int = 200
    also: tuple[int, ...] = ()
    query: Mapping[str, str] | type[BaseModel] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    idempotency: bool = False
    description: str = ""


def api(
    summary: str,
    *,
    tags: tuple[str, ...] | str = (),
    body: type[BaseModel] | Schema | None = None,
    body_media_type: str = "application/json",
    response: type[BaseModel] | Schema | None = None,
    response_media_type: str = "application/json",
    status: int = 200,
    also: tuple[int, ...] = (),
    query: Mapping[str, str] | type[BaseModel] | None = None,
    errors: tuple[str, ...] = (),
    idempotency: bool = False,
    description: str = "",
) -> Callable[[H], H]:
    """Attach an :class:`ApiSpec` to a handler. ``status`` is the success status; ``also``
    lists other success statuses (e.g. 200 when an idempotent create replays). Raises
    ``ValueError`` at import time for an unknown error code or query type."""
    unknown = [c for c in errors if c not in ERROR_CODES]
    if unknown:
        raise ValueError(f"unknown error codes {unknown}")
    if isinstance(query, Mapping):
        bad = [t for t in query.values() if t.rstrip("!") not in QUERY_TYPES]
        if bad:
            raise ValueError(f"unknown query types {bad}")
    spec = ApiSpec(
        summary=summary,
        tags=(tags,) if isinstance(tags, str) else tags,
        body=body,
        body_media_type=body_media_type,
        response=response,
        response_media_type=response_media_type,
        status=status,
        also=also,
        query=query if query is not None else {},
        errors=errors,
        idempotency=idempotency,
        description=description,
    )

    def mark(handler: H) -> H:
        setattr(handler, _ATTR, spec)
        return handler

    return mark


def spec_of(handler: object) -> ApiSpec | None:
    """The handler's :class:`ApiSpec`, or None when it has none."""
    return getattr(handler, _ATTR, None)
