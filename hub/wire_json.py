"""JSON on the wire through orjson: Socket.IO packets and REST bodies.

:data:`WIRE_JSON` has the ``dumps``/``loads`` pair that python-socketio and python-engineio
take as their ``json`` module; :func:`dumps_str` is aiohttp's ``json_response(dumps=...)``.

Output decodes to the same values as the standard library's compact form (non-ASCII is written
as UTF-8 rather than ``\\u`` escapes), and orjson also writes what the standard library cannot
(datetimes as RFC 3339, UUIDs as strings). Where orjson refuses (an integer beyond 64 bits, an
unknown type) or a caller asks for formatting options, the standard library answers, so nothing
that used to encode stops encoding. On input, integers beyond 64 bits decode as floats (out of
range for every field anyway), which also avoids the slow big-integer parse that
``engineio.json`` guards against.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
_COMPACT = (",", ":")


def dumps_str(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` with orjson; ``separators`` other than compact, or any other keyword
    (``indent``, ``sort_keys``, ``default`` ...), falls back to the standard library."""
    separators = kwargs.get("separators")
    if set(kwargs) <= {"separators"} and separators in (None, _COMPACT):
        try:
            return orjson.dumps(obj, option=_OPTIONS).decode()
        except TypeError:
            pass
    if not kwargs:
        kwargs["separators"] = _COMPACT  # what orjson would have written
    return json.dumps(obj, **kwargs)


def loads(data: str | bytes | bytearray, **kwargs: Any) -> Any:
    """``json.loads`` with orjson (raises ``ValueError`` subclasses on bad input, as it does)."""
    if kwargs:
        return json.loads(data, **kwargs)
    return orjson.loads(data)


class _WireJson:
    """The module-like object python-socketio wants: ``dumps`` and ``loads``."""

    dumps = staticmethod(dumps_str)
    loads = staticmethod(loads)


WIRE_JSON = _WireJson()
