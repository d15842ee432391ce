"""The OpenAPI 3.1 document of the REST API, built from the running app's router.

Every route whose handler carries :func:`hub.api_spec.api` metadata becomes an operation: path
parameters from the route's canonical path, query parameters and bodies from the metadata,
schemas from the pydantic models (``components/schemas``), the permission of ``@requires`` as
the security requirement. A route without metadata is left out on purpose, so the completeness
test (``tests/e2e/test_api_documents.py``) names it. Socket.IO's own endpoint is not REST and is
described by the AsyncAPI document instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from hub.api_spec import ApiSpec, spec_of
from hub.guard import SOCKET_IO_PREFIX, permission_of
from protocols.errors import ERROR_CODES, SevaError
from protocols.permissions import ROLE_PERMISSIONS, Perm

REF_TEMPLATE = "#/components/schemas/{model}"
OPENAPI_VERSION = "3.1.0"

_QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean", "description": "true or false"},
    "uuid": {"type": "string", "format": "uuid"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
}
# Path parameters that are not UUIDs although their names end in ``_id``.
_TEXT_PATH_PARAMS = {"pending_id"}
_PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class DocumentedRoute:
    method: str
    path: str
    handler: Any
    spec: ApiSpec | None
    perm: Perm | None


def app_version() -> str:
    try:
        return version("seva-hub")
    except PackageNotFoundError:
        return "0.0.0"


def rest_routes(app: web.Application) -> Iterator[DocumentedRoute]:
    """Every (method, canonical path) the app serves, except Socket.IO's endpoint and the
    implicit HEAD of each GET."""
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method in ("HEAD", "*"):
            continue
        path = resource.canonical
        if path.startswith(SOCKET_IO_PREFIX):
            continue
        handler = route.handler
        yield DocumentedRoute(route.method, path, handler, spec_of(handler), permission_of(handler))


def error_statuses() -> dict[str, int]:
    """Each error code of ``protocols/errors.py`` and the HTTP status it is answered with."""
    found: dict[str, int] = {}
    pending: list[type[SevaError]] = [SevaError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls.http_status)
        pending.extend(cls.__subclasses__())
    return {code: found[code] for code in ERROR_CODES}


def roles_with(perm: Perm) -> list[str]:
    if perm in (Perm.PUBLIC, Perm.AUTHENTICATED):
        return [str(role) for role in ROLE_PERMISSIONS]
    return [str(role) for role, perms in ROLE_PERMISSIONS.items() if perm in perms]


def build_openapi(app: web.Application) -> dict[str, Any]:
    """The whole document as JSON-ready data. Pure: reads only the router and the models."""
    routes = [r for r in rest_routes(app) if r.spec is not None]
    schemas = _Schemas()
    for r in routes:
        assert r.spec is not None
        schemas.want(r.spec.body, "validation")
        schemas.want(r.spec.response, "serialization")
        if isinstance(r.spec.query, type):
            schemas.want(r.spec.query, "validation")
    schemas.resolve()
    statuses = error_statuses()
    paths: dict[str, dict[str, Any]] = {}
    for r in sorted(routes, key=lambda r: (r.path, r.method)):
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, schemas, statuses)
    tags = sorted({tag for r in routes for tag in (r.spec.tags if r.spec else ())})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Seva Hub REST API",
            "version": app_version(),
            "summary": "Bookings, holds, wallets and payments for temples, study libraries, "
            "padel venues and astrologers; money is integer paise.",
            "description": "Generated from the pydantic models of `protocols/` and the route "
            "metadata of `hub/rest*.py`. The Socket.IO contract is at /api/v1/asyncapi.json. "
            'Every error answers `{"error": {code, message, details}}`.',
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {
            "schemas": {**schemas.definitions, **_error_schemas()},
            "responses": _error_responses(statuses),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access token of POST /api/v1/auth/login or /register.",
                }
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "The client's key for a retried write (or the body's "
                    "idempotency field; both given must agree). Printable ASCII without "
                    "spaces, at most 128.",
                    "schema": {"type": "string", "maxLength": 128},
                }
            },
        },
    }


class _Schemas:
    """Collects models and turns them into ``components/schemas`` in one pass, so models
    shared by many routes (and same-named models used both as input and output) get one
    consistent name each."""

    def __init__(self) -> None:
        self._wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
        self._refs: dict[tuple[Any, JsonSchemaMode], dict[str, Any]] = {}
        self.definitions: dict[str, Any] = {}

    def want(self, model: object, mode: JsonSchemaMode) -> None:
        if isinstance(model, type) and issubclass(model, BaseModel):
            self._wanted[(model, mode)] = None

    def resolve(self) -> None:
        if not self._wanted:
            return
        refs, top = models_json_schema(list(self._wanted), ref_template=REF_TEMPLATE)
        self._refs = dict(refs)
        self.definitions = dict(top.get("$defs", {}))

    def schema(self, value: type[BaseModel] | Mapping[str, Any], mode: JsonSchemaMode) -> Any:
        if isinstance(value, type):
            return self._refs[(value, mode)]
        return dict(value)

    def model_schema(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        ref = self._refs[(model, mode)]["$ref"]
        definition: dict[str, Any] = self.definitions[ref.rsplit("/", 1)[1]]
        return definition


def _operation(r: DocumentedRoute, schemas: _Schemas, statuses: dict[str, int]) -> dict[str, Any]:
    spec = r.spec
    assert spec is not None
    perm = r.perm or Perm.PUBLIC
    name = f"{r.handler.__module__.rsplit('.', 1)[-1]}.{r.handler.__name__}"
    auth = (
        "No token."
        if perm is Perm.PUBLIC
        else f"Bearer token with permission `{perm}` (roles: {', '.join(roles_with(perm))})."
    )
    op: dict[str, Any] = {
        "operationId": name,
        "summary": spec.summary,
        "description": "\n\n".join(p for p in (spec.description, auth) if p),
        "tags": list(spec.tags),
        "x-seva-permission": str(perm),
        "security": [] if perm is Perm.PUBLIC else [{"bearer": []}],
    }
    path_params = _PATH_PARAM.findall(r.path)
    params: list[dict[str, Any]] = [
        {
            "name": p,
            "in": "path",
            "required": True,
            "schema": (
                {"type": "string", "format": "uuid"}
                if p.endswith("_id") and p not in _TEXT_PATH_PARAMS
                else {"type": "string", "minLength": 1}
            ),
        }
        for p in path_params
    ]
    params.extend(_query_parameters(spec, schemas))
    if spec.idempotency:
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {spec.body_media_type: {"schema": schemas.schema(spec.body, "validation")}},
        }
    responses: dict[str, Any] = {}
    for status in (spec.status, *spec.also):
        responses[str(status)] = _success(spec, status, schemas)
    codes = set(spec.errors) | {"invalid"}
    if perm is not Perm.PUBLIC:
        codes |= {"unauthorized", "forbidden", "tenant_suspended"}
    if path_params:
        codes.add("not_found")
    not_json = {400} if spec.body_media_type == "application/json" and spec.body else set()
    for status in sorted({statuses[c] for c in codes} | not_json):
        responses.setdefault(str(status), {"$ref": f"#/components/responses/Error{status}"})
    responses["default"] = {"$ref": "#/components/responses/ErrorDefault"}
    op["responses"] = responses
    return op


def _success(spec: ApiSpec, status: int, schemas: _Schemas) -> dict[str, Any]:
    if status == 204:
        return {"description": "Done; no body."}
    schema = (
        {"type": "object", "description": "A JSON object; README.md documents its fields."}
        if spec.response is None
        else schemas.schema(spec.response, "serialization")
    )
    description = "Success" if status < 300 else f"Answered with {status} and the same shape"
    if status == 200 and spec.status == 201:
        description = "Replayed: the same idempotency key was already used"
    return {"description": description, "content": {spec.response_media_type: {"schema": schema}}}


def _query_parameters(spec: ApiSpec, schemas: _Schemas) -> list[dict[str, Any]]:
    if isinstance(spec.query, type):
        model = schemas.model_schema(spec.query, "validation")
        required = set(model.get("required", ()))
        return [
            {"name": n, "in": "query", "required": n in required, "schema": s}
            for n, s in model.get("properties", {}).items()
        ]
    return [
        {
            "name": name,
            "in": "query",
            "required": kind.endswith("!"),
            "schema": _QUERY_SCHEMAS[kind.rstrip("!")],
        }
        for name, kind in spec.query.items()
    ]


def error_schema() -> dict[str, Any]:
    """``{code, message, details}``: the error of every REST answer and socket ack."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "enum": list(ERROR_CODES)},
            "message": {"type": "string"},
            "details": {"description": "Code-specific JSON (null when there is none)"},
        },
    }


def _error_schemas() -> dict[str, Any]:
    return {
        "Error": error_schema(),
        "ErrorEnvelope": {
            "type": "object",
            "additionalProperties": False,
            "required": ["error"],
            "properties": {"error": {"$ref": "#/components/schemas/Error"}},
        },
    }


def _error_responses(statuses: dict[str, int]) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {400: ["invalid (the body is not JSON)"]}
    for code, status in statuses.items():
        by_status.setdefault(status, []).append(code)
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    responses: dict[str, Any] = {
        f"Error{status}": {
            "description": "Error: " + ", ".join(codes),
            "content": envelope,
        }
        for status, codes in sorted(by_status.items())
    }
    responses["ErrorDefault"] = {
        "description": "Any other error: internal (500), unavailable or gateway_unavailable "
        "(503, retry with the same idempotency key)",
        "content": envelope,
    }
    return responses
