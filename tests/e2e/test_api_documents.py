"""The API documents against the real running hub: complete, valid, and true to the wire.

- every REST route of the app (Socket.IO's endpoint and the web board's static files aside) is
  in ``/api/v1/openapi.json`` with its method, and the document is valid OpenAPI 3.1;
- every client event registered on the Socket.IO gateway and every declared server event is in
  ``/api/v1/asyncapi.json``, which is valid against the official AsyncAPI 3.0.0 JSON schema
  (``tests/schemas/asyncapi-3.0.0.json``, from npm ``@asyncapi/specs`` 6.11.1, Apache-2.0);
- every event the code emits is declared in ``protocols/server_events.py`` and documented in
  the README; every ``$ref`` of both documents resolves;
- real answers fit the documented response schemas; ``/api/docs`` renders in chromium.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
import jsonschema
from aiohttp import web
from openapi_spec_validator import validate as validate_openapi

from hub import keys
from hub.api_spec import api
from hub.guard import requires
from hub.openapi import build_openapi, rest_routes
from hub.sockets import EVENT_PERMISSIONS
from protocols.errors import ERROR_CODES
from protocols.permissions import Perm
from protocols.server_events import SERVER_EVENTS
from tests.node_support import chromium_path
from tests.support import Hub, bearer, make_world, user_token

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI_SCHEMA = ROOT / "tests" / "schemas" / "asyncapi-3.0.0.json"
# Static files, not an API: the web board's page and its assets.
STATIC_HANDLER_MODULES = {"hub.web_board"}
BROWSER_TIMEOUT_SECS = 60


async def _get_json(hub: Hub, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = bearer(token) if token else {}
    async with aiohttp.ClientSession() as http, http.get(hub.url + path, headers=headers) as r:
        return r.status, await r.json()


async def _documents(hub: Hub) -> tuple[dict[str, Any], dict[str, Any]]:
    status_o, openapi = await _get_json(hub, "/api/v1/openapi.json")
    status_a, asyncapi = await _get_json(hub, "/api/v1/asyncapi.json")
    assert (status_o, status_a) == (200, 200)
    return openapi, asyncapi


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"not a local $ref: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    """A 2020-12 validator for a schema taken out of ``doc``, its local $refs into ``doc``."""
    resolvable = {**schema, "components": doc["components"]}
    return jsonschema.Draft202012Validator(resolvable)


async def test_every_rest_route_is_in_openapi_with_its_methods(hub: Hub) -> None:
    openapi, _ = await _documents(hub)
    served = {
        (r.method.lower(), r.path)
        for r in rest_routes(hub.app)
        if r.handler.__module__ not in STATIC_HANDLER_MODULES
    }
    documented = {(m, p) for p, ops in openapi["paths"].items() for m in ops}
    assert len(served) > 100
    assert served - documented == set(), "routes without @api metadata (hub/api_spec.py)"
    assert documented - served == set()
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            route = next(
                r for r in rest_routes(hub.app) if (r.method.lower(), r.path) == (method, path)
            )
            assert op["x-seva-permission"] == str(route.perm), (method, path)
            assert op["security"] == ([] if route.perm is Perm.PUBLIC else [{"bearer": []}])
            for name in re.findall(r"\{(\w+)\}", path):
                assert any(p.get("name") == name for p in op["parameters"]), (path, name)


async def test_openapi_document_is_valid_openapi_3_1_and_every_ref_resolves(hub: Hub) -> None:
    openapi, _ = await _documents(hub)
    assert openapi["openapi"] == "3.1.0"
    validate_openapi(openapi)
    refs = _refs(openapi)
    assert len(refs) > 200
    for ref in set(refs):
        _resolve(openapi, ref)
    error = openapi["components"]["schemas"]["Error"]
    assert error["properties"]["code"]["enum"] == list(ERROR_CODES)
    hold = openapi["paths"]["/api/v1/holds"]["post"]
    body_ref = hold["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(_resolve(openapi, body_ref)["properties"]) == {
        "slot_id",
        "qty",
        "idempotency_key",
        "extras",
    }
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in hold["parameters"]
    assert {"201", "409", "422", "401", "403"} <= set(hold["responses"])


async def test_a_route_without_metadata_is_left_out_so_the_check_above_names_it() -> None:
    app = web.Application()

    @requires(Perm.PUBLIC)
    async def undocumented(_request: web.Request) -> web.Response:
        return web.json_response({})

    @api("Documented", tags="t")
    @requires(Perm.PUBLIC)
    async def documented(_request: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_get("/a", undocumented)
    app.router.add_post("/b/{thing_id}", documented)
    doc = build_openapi(app)
    assert set(doc["paths"]) == {"/b/{thing_id}"}
    missing = [(r.method, r.path) for r in rest_routes(app) if r.spec is None]
    assert missing == [("GET", "/a")]


async def test_real_answers_fit_the_documented_response_schemas(hub: Hub, db: asyncpg.Pool) -> None:
    openapi, _ = await _documents(hub)
    world = await make_world(db)
    token = user_token(hub, world)

    def schema_of(path: str, status: str) -> dict[str, Any]:
        response = openapi["paths"][path]["get"]["responses"][status]
        if "$ref" in response:
            response = _resolve(openapi, response["$ref"])
        schema: dict[str, Any] = response["content"]["application/json"]["schema"]
        return schema

    availability = "/api/v1/tenants/{tenant_id}/resources/{resource_id}/availability"
    cases = [
        ("/healthz", "/healthz", None, 200),
        ("/readyz", "/readyz", None, 200),
        ("/api/v1/wallets/me", "/api/v1/wallets/me", token, 200),
        ("/api/v1/me", "/api/v1/me", token, 200),
        (
            availability,
            f"/api/v1/tenants/{world.tenant_id}/resources/{world.resource_id}/availability"
            f"?date={world.day.isoformat()}",
            token,
            200,
        ),
        # Errors answer the shared error envelope.
        ("/api/v1/wallets/me", "/api/v1/wallets/me", None, 401),
        ("/api/v1/wallets/{wallet_id}", f"/api/v1/wallets/{UUID(int=7)}", token, 404),
        (availability, availability.format(tenant_id="x", resource_id="y"), token, 422),
    ]
    for documented, url, bearer_token, status in cases:
        got_status, body = await _get_json(hub, url, bearer_token)
        assert got_status == status, (url, got_status, body)
        errors = list(_validator(openapi, schema_of(documented, str(status))).iter_errors(body))
        assert errors == [], (url, [e.message for e in errors])


async def test_every_socket_event_is_in_asyncapi_with_payload_and_ack(hub: Hub) -> None:
    _, asyncapi = await _documents(hub)
    registered = hub.app[keys.SOCKETS].client_events
    assert set(registered) == set(EVENT_PERMISSIONS), "registered events vs EVENT_PERMISSIONS"
    messages = asyncapi["components"]["messages"]
    received: dict[str, dict[str, Any]] = {}
    sent: dict[str, dict[str, Any]] = {}
    for op in asyncapi["operations"].values():
        message = _resolve(asyncapi, _resolve(asyncapi, op["messages"][0]["$ref"])["$ref"])
        (received if op["action"] == "receive" else sent)[message["name"]] = op
    assert set(received) == set(registered)
    assert set(sent) == set(SERVER_EVENTS)
    for event, model in registered.items():
        op = received[event]
        payload = _resolve(asyncapi, messages[event.replace(":", ".")]["payload"]["$ref"])
        fields = {f.alias or name for name, f in model.model_fields.items()}
        assert set(payload.get("properties", {})) == fields, event
        ack_ref = _resolve(asyncapi, op["reply"]["messages"][0]["$ref"])["$ref"]
        ack = _resolve(asyncapi, ack_ref)["payload"]["oneOf"]
        assert ack[0]["properties"]["ok"] == {"const": True}
        assert ack[1] == {"$ref": "#/components/schemas/ErrorAck"}
        assert op["x-seva-permission"] == str(EVENT_PERMISSIONS[event])


async def test_asyncapi_document_is_valid_asyncapi_3_and_every_ref_resolves(hub: Hub) -> None:
    _, asyncapi = await _documents(hub)
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(asyncapi)
    ]
    assert errors == []
    broken = json.loads(json.dumps(asyncapi))
    broken["operations"]["client.hold.create"]["action"] = "publish"  # AsyncAPI 2 wording
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken)) != []
    refs = _refs(asyncapi)
    assert len(refs) > 100
    for ref in set(refs):
        _resolve(asyncapi, ref)


def _emitted_event_names() -> set[str]:
    """Event names the code emits: literal ``emit("...")``, ``event="..."`` of feed rows, and
    constants named ``*_EVENT`` / ``FEED_RESYNC`` / ``SESSION_ENDED``."""
    patterns = [
        re.compile(r"""\bemit\(\s*["']([a-z][\w:]*)["']"""),
        re.compile(r"""\bevent\s*=\s*["']([a-z][\w:]*)["']"""),
        re.compile(
            r"""^\s*(?:\w+_EVENT|FEED_RESYNC|SESSION_ENDED)\s*=\s*["']([a-z][\w:]*)["']""", re.M
        ),
        re.compile(r"""\bevent = ["']([a-z][\w:]*)["'] if .* else ["']([a-z][\w:]*)["']"""),
    ]
    found: set[str] = set()
    for package in ("hub", "actors", "storage", "protocols"):
        for path in (ROOT / package).rglob("*.py"):
            if "node_modules" in path.parts or "bench" in path.parts:
                continue
            text = path.read_text()
            for pattern in patterns:
                for match in pattern.findall(text):
                    found.update(match if isinstance(match, tuple) else (match,))
    return found


async def test_every_emitted_event_is_declared_and_documented_in_the_readme() -> None:
    emitted = _emitted_event_names()
    assert emitted - set(SERVER_EVENTS) == set(), "emitted, not in protocols/server_events.py"
    assert set(SERVER_EVENTS) - emitted == set(), "declared but never emitted"
    readme = (ROOT / "README.md").read_text()
    undocumented = [e for e in SERVER_EVENTS if f"`{e}`" not in readme]
    assert undocumented == []


async def test_docs_page_renders_both_documents_in_chromium(hub: Hub) -> None:
    async with aiohttp.ClientSession() as http, http.get(hub.url + "/api/docs") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        page = await r.text()
    assert not re.search(r"""(src|href)=["']https?://""", page), "no CDN: must work offline"
    proc = await asyncio.create_subprocess_exec(
        chromium_path(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=10000",
        "--dump-dom",
        hub.url + "/api/docs",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), BROWSER_TIMEOUT_SECS)
    dom = stdout.decode()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert 'data-ready="true"' in dom, dom[-3000:]
    assert '<p id="error"></p>' in dom
    for shown in ("/api/v1/holds/{hold_id}/pay-from-wallet", "hold:create", "session:ended"):
        assert shown in dom, shown
    assert 'id="rest-HoldView"' in dom and 'id="async-CreateHold"' in dom
