"""Signed upload and download URLs of the embedded file store (``LocalFileStore``).

Mounted only when no S3 bucket is configured. No token: the URL's signature is the
permission, as with an S3 presigned URL (``protocols/filestores/local.py``).
"""

from __future__ import annotations

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.errors import error_response
from hub.guard import requires
from protocols.api_responses import StoredFile
from protocols.errors import Forbidden, Invalid
from protocols.permissions import Perm

routes = web.RouteTableDef()

CHUNK_BYTES = 256 * 1024


@routes.put("/api/v1/files/{key:.+}")
@api(
    "Upload to a signed URL of the local file store",
    tags="files",
    body={"type": "string", "format": "binary"},
    response=StoredFile,
    errors=("forbidden",),
    description="413 (code invalid, details.reason too_large) past max_bytes; 403 forbidden "
    "for a bad or expired signature or a Content-Type other than the signed one.",
    query={
        "content_type": "string!",
        "max_bytes": "integer!",
        "expires": "integer!",
        "signature": "string!",
    },
    body_media_type="application/octet-stream",
)
@requires(Perm.PUBLIC)
async def put_file(request: web.Request) -> web.Response:
    store = request.app[keys.LOCAL_FILES]
    key = request.match_info["key"]
    query = dict(request.query)
    store.check_signature("PUT", key, query)
    content_type = query["content_type"]
    if request.headers.get("Content-Type", "") != content_type:
        raise Forbidden(
            "Content-Type differs from the one the URL was signed for",
            {"reason": "signature_invalid"},
        )
    max_bytes = int(query["max_bytes"])
    too_large = Invalid(
        "the body is larger than the upload allows", {"reason": "too_large", "max_bytes": max_bytes}
    )
    if (request.content_length or 0) > max_bytes:
        return error_response(too_large, status=413)
    try:
        size = await store.write(
            key,
            content_type=content_type,
            max_bytes=max_bytes,
            chunks=request.content.iter_chunked(CHUNK_BYTES),
        )
    except Invalid:
        # A body without (or with a false) Content-Length, cut off at the limit.
        return error_response(too_large, status=413)
    return web.json_response({"key": key, "size_bytes": size})


@routes.get("/api/v1/files/{key:.+}")
@api(
    "Download from a signed URL of the local file store",
    tags="files",
    response={"type": "string", "format": "binary"},
    query={"download_name": "string!", "expires": "integer!", "signature": "string!"},
    errors=("forbidden",),
    response_media_type="application/octet-stream",
)
@requires(Perm.PUBLIC)
async def get_file(request: web.Request) -> web.StreamResponse:
    store = request.app[keys.LOCAL_FILES]
    key = request.match_info["key"]
    query = dict(request.query)
    store.check_signature("GET", key, query)
    path, content_type = await store.open_for_read(key)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{query["download_name"]}"',
        },
    )
