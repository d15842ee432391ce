"""The live web board: static files from ``hub/web/`` served at ``/`` and ``/board/...``.

``GET /`` answers ``index.html``; ``GET /board/{board.js,board.css}`` the board's own files;
``GET /board/vendor/{name}`` the socket.io-client build that ``deploy/scripts/vendor_board.py``
vendors at install time (gitignored). Nothing else is served: any other name is ``not_found``
(no directory listing, no path walking). The board's own files are revalidated on every load
(``no-cache`` with ``ETag``/``Last-Modified``, so an unchanged file is a ``304``); the vendored
library, pinned by version in ``hub/web/vendor.json``, may be cached for an hour.

The routes are public: the page holds no data; it logs in over ``/api/v1/auth/login`` like
any other client.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.guard import requires
from protocols.errors import NotFound
from protocols.permissions import Perm

BOARD_DIR = Path(__file__).resolve().parent / "web"
VENDOR_DIR = BOARD_DIR / "vendor"
VENDOR_COMMAND = "python3 deploy/scripts/vendor_board.py"
OWN_ASSETS = {
    "board.js": "text/javascript; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
}
VENDOR_ASSETS = {
    "socket.io.esm.min.js": "text/javascript; charset=utf-8",
    "socket.io-client.LICENSE": "text/plain; charset=utf-8",
}
REVALIDATE = "no-cache"
VENDOR_CACHE = "public, max-age=3600"

routes = web.RouteTableDef()


def _file(path: Path, content_type: str, cache_control: str) -> web.FileResponse:
    return web.FileResponse(
        path, headers={"Content-Type": content_type, "Cache-Control": cache_control}
    )


@routes.get("/")
@requires(Perm.PUBLIC)
async def board_index(_request: web.Request) -> web.FileResponse:
    return _file(BOARD_DIR / "index.html", "text/html; charset=utf-8", REVALIDATE)


@routes.get("/board/vendor/{name}")
@requires(Perm.PUBLIC)
async def board_vendor_asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    content_type = VENDOR_ASSETS.get(name)
    if content_type is None:
        raise NotFound("no such board file", {"name": name})
    path = VENDOR_DIR / name
    if not path.is_file():
        raise NotFound(
            f"the board's socket.io-client is not vendored; run `{VENDOR_COMMAND}` "
            "(bootstrap.sh does) and reload",
            {"name": name, "command": VENDOR_COMMAND},
        )
    return _file(path, content_type, VENDOR_CACHE)


@routes.get("/board/{name}")
@requires(Perm.PUBLIC)
async def board_asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    content_type = OWN_ASSETS.get(name)
    if content_type is None:
        raise NotFound("no such board file", {"name": name})
    return _file(BOARD_DIR / name, content_type, REVALIDATE)
