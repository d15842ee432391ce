"""The test hubs' response check (tests/response_contracts.py) flags an answer outside its
route's documented model and passes one that fits, over a real aiohttp server."""

from __future__ import annotations

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from hub.api_spec import api
from protocols.wire import WireModel
from tests import response_contracts


class Answer(WireModel):
    count: int


@api("fits", response=Answer)
async def fits(_request: web.Request) -> web.Response:
    return web.json_response({"count": 1})


@api("drifts", response=Answer)
async def drifts(_request: web.Request) -> web.Response:
    return web.json_response({"count": "one", "extra": True})


async def test_an_answer_outside_its_documented_model_is_recorded_and_one_that_fits_is_not():
    app = web.Application()
    app.router.add_get("/fits", fits)
    app.router.add_get("/drifts", drifts)
    response_contracts.install(app)
    response_contracts.take()
    async with TestServer(app) as server, ClientSession() as http:
        for path in ("/fits", "/drifts"):
            async with http.get(server.make_url(path)) as resp:
                assert resp.status == 200
    found = response_contracts.take()
    assert len(found) == 1
    assert found[0].startswith("GET /drifts answered 200 outside its documented schema")
    assert "extra" in found[0] and "count" in found[0]
