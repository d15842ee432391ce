"""Every REST operation fuzzed against a live hub.

1. schemathesis 4 reads the hub's own ``GET /api/v1/openapi.json`` and sends, for every
   operation, requests that fit the document (positive) and requests that do not (negative),
   with a bearer token of a role that holds the operation's permission (so requests pass
   authentication and reach validation).
2. Hypothesis, from each route's pydantic body model (``@api(body=...)``): bodies the schema
   admits, with random and the test world's real ids, and near misses of them.

Every answer is below 500; every 4xx body is ``{"error": {code, message, details}}`` with a code
other than ``internal``; schemathesis checks that answers match their documented schema and
content type. Afterwards ``seva verify``'s invariants hold on the hub's own database.

Deterministic in CI (fixed seed); ``SEVA_FUZZ_SEED=random`` explores, ``SEVA_FUZZ_SEED=<n>``
replays (the seed is printed), ``SEVA_FUZZ_EXAMPLES=<n>`` runs longer.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from pydantic import BaseModel
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from hub.openapi import rest_routes
from protocols.permissions import ROLE_PERMISSIONS, Perm, Role
from tests.fuzz_strategies import examples_per_strategy, payloads, run_hypothesis, seed_from_env
from tests.fuzz_support import assert_error_envelope, assert_no_violations, fuzz_hub
from tests.support import (
    World,
    confirmed_booking,
    fund_wallet,
    make_user,
    make_world,
    token_for,
)

OPENAPI_PATH = "/api/v1/openapi.json"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Kept out of the fuzzing: ending the session of the token the run uses would turn every later
# request into a 401 (its refusals are covered by tests/e2e/test_identity.py).
SKIPPED = {("POST", "/api/v1/auth/logout")}
# Fuzzed with random ids only: with the world's real tenant they would suspend it, or delete
# the resource every later request uses.
KEEP_RANDOM_IDS = {
    ("POST", "/api/v1/admin/tenants/{tenant_id}/suspend"),
    ("DELETE", "/api/v1/catalog/resources/{resource_id}"),
}
_PARAM = re.compile(r"\{(\w+)\}")
# 503 codes of README "Errors": a dependency (the gateways, Ray) is unavailable right now.
RETRYABLE_503 = {"unavailable", "gateway_unavailable"}


@dataclass(frozen=True)
class Tokens:
    by_role: dict[Role, str]

    def for_permission(self, perm: str | None) -> str:
        """A token of the least surprising role that holds ``perm``: the tenant admin when it
        may, else the platform admin, the user, the staff member."""
        wanted = Perm(perm) if perm else Perm.PUBLIC
        if wanted in (Perm.PUBLIC, Perm.AUTHENTICATED):
            return self.by_role[Role.TENANT_ADMIN]
        for role in (Role.TENANT_ADMIN, Role.PLATFORM_ADMIN, Role.USER, Role.STAFF):
            if wanted in ROLE_PERMISSIONS[role]:
                return self.by_role[role]
        raise AssertionError(f"no role holds {perm}")


@pytest.fixture(scope="module")
async def fuzzed(pg_dsn: str, ray_session: None) -> Any:
    async with fuzz_hub(pg_dsn) as (hub, pool, _dsn):
        world = await make_world(pool, capacity=1000, slots=2, users=2)
        booking_id = await confirmed_booking(hub, pool, world)
        wallet_id = await fund_wallet(hub, pool, world, 500_000, index=1)
        admin = await make_user(pool, tenant_id=world.tenant_id, role="tenant_admin")
        platform = await make_user(pool, tenant_id=None, role="platform_admin")
        tokens = Tokens(
            {
                Role.TENANT_ADMIN: token_for(hub, admin, world.tenant_id, "tenant_admin"),
                Role.PLATFORM_ADMIN: token_for(hub, platform, None, "platform_admin"),
                Role.USER: token_for(hub, world.user_ids[0], world.tenant_id, "user"),
                Role.STAFF: token_for(hub, world.staff_id, world.tenant_id, "staff"),
            }
        )
        real = _real_values(world, booking_id, str(wallet_id))
        yield hub, pool, tokens, real


def _real_values(world: World, booking_id: str, wallet_id: str) -> dict[str, list[Any]]:
    return {
        "tenant_id": [str(world.tenant_id)],
        "library_id": [str(world.tenant_id)],
        "resource_id": [str(world.resource_id)],
        "slot_id": [str(s) for s in world.slot_ids],
        "slot_ids": [str(s) for s in world.slot_ids],
        "hold_id": [booking_id],
        "booking_id": [booking_id],
        "wallet_id": [wallet_id],
        "user_id": [str(u) for u in world.user_ids],
        "user_ids": [str(u) for u in world.user_ids],
        "staff_user_id": [str(world.staff_id)],
        "date": [world.date],
    }


def assert_envelope_if_error(status: int, body: bytes, context: object) -> None:
    """Below 500, or a documented ``503`` (README "Errors": a dependency is unavailable);
    every error answers JSON ``{"error": {code, message, details}}``, never ``internal``."""
    assert status < 500 or status == 503, context
    if status < 400:
        return
    try:
        decoded = json.loads(body)
    except ValueError:
        raise AssertionError(
            f"{status} with a body that is not JSON: {body[:300]!r} {context}"
        ) from None
    assert isinstance(decoded, dict) and set(decoded) == {"error"}, (decoded, context)
    assert_error_envelope(decoded["error"], (decoded, context))
    if status == 503:
        assert decoded["error"]["code"] in RETRYABLE_503, (decoded, context)


async def test_schemathesis_over_the_live_openapi_document_finds_no_5xx_and_only_envelopes(
    fuzzed: Any,
) -> None:
    hub, pool, tokens, real = fuzzed
    run_seed = seed_from_env()
    examples = examples_per_strategy(3)
    print(f"fuzz seed: {run_seed} examples per operation and mode: {examples}")
    async with aiohttp.ClientSession() as http, http.get(hub.url + OPENAPI_PATH) as resp:
        assert resp.status == 200
        document = await resp.json()
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()
    statuses: dict[str, int] = {}
    operations = 0
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            method, path = operation.method.upper(), operation.path
            if (method, path) in SKIPPED:
                continue
            operations += 1
            token = tokens.for_permission(operation.definition.raw.get("x-seva-permission"))
            headers = {"Authorization": f"Bearer {token}"}
            strategies = [
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            ]
            names = _PARAM.findall(path)
            if names and all(n in real for n in names) and (method, path) not in KEEP_RANDOM_IDS:
                # Also with the test world's ids in the path, so requests get past "not found".
                fixed = {n: real[n][0] for n in names}
                strategies.append(
                    operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed)
                )
            strategy = st.one_of(strategies)

            def check(case: schemathesis.Case, headers: dict[str, str] = headers) -> None:
                response = case.call(base_url=hub.url, session=session, headers=headers)
                key = f"{response.status_code // 100}xx"
                statuses[key] = statuses.get(key, 0) + 1
                context = (run_seed, case.as_curl_command(headers=headers))
                assert_envelope_if_error(response.status_code, response.content, context)
                case.validate_response(response, checks=CHECKS, headers=headers)

            await run_hypothesis(
                strategy, _in_thread(check), max_examples=examples, run_seed=run_seed
            )
    finally:
        session.close()
    print(f"{operations} operations, answers by status class: {statuses}")
    assert operations >= 50, operations  # the document really lists the REST API
    assert statuses.get("2xx", 0) > 0 and statuses.get("4xx", 0) > 0, statuses
    await assert_no_violations(pool)


def _in_thread(check: Any) -> Any:
    """``run_hypothesis`` hands examples to a coroutine on the loop; a blocking ``requests``
    call must not run there (the hub it calls is served by that loop), so it goes to a
    thread of its own."""

    async def run(example: Any) -> None:
        await asyncio.to_thread(check, example)

    return run


async def test_bodies_from_each_routes_model_get_answers_below_500_and_error_envelopes(
    fuzzed: Any,
) -> None:
    hub, pool, tokens, real = fuzzed
    run_seed = seed_from_env()
    examples = examples_per_strategy(8)
    routes = [
        r
        for r in rest_routes(hub.app)
        if r.spec is not None
        and isinstance(r.spec.body, type)
        and issubclass(r.spec.body, BaseModel)
        and r.spec.body_media_type == "application/json"
        and (r.method, r.path) not in SKIPPED
    ]
    assert len(routes) >= 30, [f"{r.method} {r.path}" for r in routes]
    real_ids = sorted({v for k, vs in real.items() if k != "date" for v in vs})
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        for route in routes:
            assert route.spec is not None and isinstance(route.spec.body, type)
            token = tokens.for_permission(str(route.perm) if route.perm else None)
            body_schema = route.spec.body.model_json_schema()
            params = st.fixed_dictionaries(
                {
                    name: st.sampled_from([*real.get(name, []), str(uuid.uuid4())])
                    for name in _PARAM.findall(route.path)
                }
            )

            async def check(
                example: tuple[dict[str, str], tuple[str, Any]],
                route: Any = route,
                token: str = token,
            ) -> None:
                path_params, (kind, body) = example
                url = hub.url + route.path.format(**path_params)
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
                async with http.request(route.method, url, json=body, headers=headers) as resp:
                    raw = await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                context = (run_seed, route.method, url, kind, repr(body)[:600], raw[:300])
                assert_envelope_if_error(resp.status, raw, context)

            await run_hypothesis(
                st.tuples(params, payloads(body_schema, real_ids=real_ids, real_values=real)),
                check,
                max_examples=examples,
                run_seed=run_seed,
            )
    print(f"{len(routes)} routes with bodies, answers by status: {dict(sorted(statuses.items()))}")
    assert any(200 <= s < 300 for s in statuses), statuses  # some bodies were accepted
    await assert_no_violations(pool)
