"""Hypothesis strategies for the fuzz tests, derived from the JSON schemas of the pydantic wire
models (``Model.model_json_schema()``): payloads the schema admits, and mutations of them.

Why not ``hypothesis_jsonschema.from_schema``: version 0.23.1 (the newest) calls
``hypothesis.internal.conjecture.utils.many.more()``, which the installed Hypothesis no longer
has, so every object schema fails to draw. This covers the JSON Schema pydantic emits for our
models; a keyword it does not know raises :class:`UnknownKeyword`, so a model that grows a new
kind of constraint fails the fuzz tests loudly instead of being fuzzed less.

Also shared with the runners: :func:`examples_per_strategy`, :func:`seed_from_env` and
:func:`run_hypothesis` (a ``@given`` test run in a worker thread that calls back into the
event loop, so an async test can fuzz a live hub and still get Hypothesis's shrinking).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

JSON = Any
DEFAULT_SEED = 20261122
DEFAULT_EXAMPLES = 25

# Keywords that only describe; they do not constrain a value.
_ANNOTATIONS = {
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$defs",
}  # fmt: skip
_KNOWN = _ANNOTATIONS | {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "uniqueItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "enum", "const", "anyOf", "oneOf",
    "allOf", "$ref", "discriminator", "minProperties", "maxProperties", "propertyNames",
}  # fmt: skip

# Strings that have found bugs elsewhere: PostgreSQL refuses NUL in text, SQL quoting,
# path traversal, non-ASCII, right-to-left marks, surrogate-free emoji.
NASTY_STRINGS = [
    "\u0000", "a\u0000b", "'; DROP TABLE holds; --", "../../etc/passwd", "अभिषेक", "🙏" * 8,
    "\u202e", " ", "", "null", "NaN", "%s%n", "{{7*7}}", "\\", "\ud7ff", "0", "-1",
    "9999-12-31", "0000-00-00", "2026-02-30", "1e400", "00000000-0000-0000-0000-000000000000",
]  # fmt: skip


class HugeString(str):
    """A long string whose repr is short (Hypothesis prints failing examples)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"HugeString({self[:1]!r} * {len(self)})"


class UnknownKeyword(ValueError):
    """The schema uses a JSON Schema keyword this module does not model."""


def examples_per_strategy(default: int = DEFAULT_EXAMPLES) -> int:
    """``SEVA_FUZZ_EXAMPLES`` (more examples for a longer run), else ``default``."""
    return int(os.environ.get("SEVA_FUZZ_EXAMPLES", default))


def seed_from_env() -> int:
    """``SEVA_FUZZ_SEED``: an integer replays a run, ``random`` explores; CI uses a fixed one."""
    wanted = os.environ.get("SEVA_FUZZ_SEED", str(DEFAULT_SEED))
    return random.SystemRandom().randrange(2**32) if wanted == "random" else int(wanted)


# -- valid payloads ------------------------------------------------------------------------------


def from_json_schema(
    schema: Mapping[str, Any],
    *,
    real_ids: Sequence[str] = (),
    real_values: Mapping[str, Sequence[JSON]] | None = None,
) -> st.SearchStrategy[JSON]:
    """Values ``schema`` admits (as far as JSON Schema says; a model validator may still refuse).

    ``format: uuid`` strings are random UUIDs (valid-looking, pointing nowhere) or one of
    ``real_ids``; a property named in ``real_values`` is sometimes one of those values."""
    defs = dict(schema.get("$defs", {}))
    return _Builder(defs, list(real_ids), dict(real_values or {})).build(schema)


class _Builder:
    def __init__(
        self, defs: dict[str, Any], real_ids: list[str], real_values: dict[str, Sequence[JSON]]
    ) -> None:
        self.defs = defs
        self.real_ids = real_ids
        self.real_values = real_values

    def build(self, schema: Mapping[str, Any] | bool, name: str | None = None) -> Any:
        if schema is True or schema == {}:
            return json_values()
        if schema is False:
            return st.nothing()
        assert isinstance(schema, Mapping)
        unknown = set(schema) - _KNOWN
        if unknown:
            raise UnknownKeyword(f"{sorted(unknown)} in {dict(schema)}")
        strategy = self._build(schema, name)
        if name is not None and name in self.real_values:
            strategy = st.one_of(st.sampled_from(list(self.real_values[name])), strategy)
        return strategy

    def _build(self, schema: Mapping[str, Any], name: str | None) -> Any:
        if "$ref" in schema:
            ref = schema["$ref"]
            prefix = "#/$defs/"
            if not ref.startswith(prefix):
                raise UnknownKeyword(f"$ref {ref}")
            target = self.defs[ref[len(prefix) :]]
            return st.deferred(lambda: self.build(target, name))
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return st.one_of([self.build(s, name) for s in schema[key]])
        if "allOf" in schema:
            if len(schema["allOf"]) != 1:
                raise UnknownKeyword("allOf with more than one schema")
            return self.build(schema["allOf"][0], name)
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self._build({**schema, "type": k}, name) for k in kind])
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return self._array(schema, name)
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            return self._number(schema, integer=True)
        if kind == "number":
            return self._number(schema, integer=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind is None:
            return json_values()
        raise UnknownKeyword(f"type {kind}")

    def _object(self, schema: Mapping[str, Any]) -> Any:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fields = {k: self.build(v, k) for k, v in properties.items()}
        extra = schema.get("additionalProperties", True)
        # Property names are strings whether or not the schema says so.
        names = (
            self.build({"type": "string", **schema["propertyNames"]})
            if "propertyNames" in schema
            else None
        )

        @st.composite
        def objects(draw: st.DrawFn) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, strategy in fields.items():
                if key in required or draw(st.booleans()):
                    out[key] = draw(strategy)
            if extra is not False:
                more = extra if isinstance(extra, Mapping) else {}
                keys = names if names is not None else st.text(max_size=12)
                for key in draw(st.lists(keys, max_size=3 if names is not None else 2)):
                    if key not in properties:
                        out[key] = draw(self.build(more))
            return out

        return objects()

    def _array(self, schema: Mapping[str, Any], name: str | None) -> Any:
        items = self.build(schema.get("items", {}), name)
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        # A few elements shrink well; the maximum itself is drawn sometimes (boundaries).
        small = st.lists(
            items, min_size=low, max_size=min(high if high is not None else 5, low + 5)
        )
        if high is None or high <= low + 5:
            return small
        return st.one_of(small, st.lists(items, min_size=high, max_size=high))

    def _string(self, schema: Mapping[str, Any]) -> Any:
        low = schema.get("minLength", 0)
        high = schema.get("maxLength")
        fmt = schema.get("format")
        if fmt == "uuid":
            uuids = st.uuids().map(str)
            return st.one_of(uuids, st.sampled_from(self.real_ids)) if self.real_ids else uuids
        if fmt == "date":
            return st.dates().map(lambda d: d.isoformat())
        if fmt == "date-time":
            return st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        if fmt in ("email", "idn-email"):
            return st.emails()
        if fmt in ("uri", "url"):
            return st.sampled_from(["https://seva.test/", "http://127.0.0.1/", "https://x.test/a"])
        if fmt is not None and fmt not in ("password",):
            raise UnknownKeyword(f"format {fmt}")

        def fits(text: str) -> bool:
            return len(text) >= low and (high is None or len(text) <= high)

        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(fits)
        bounded = st.text(min_size=low, max_size=high if high is not None else 64)
        boundary = [s for s in ("x" * low, "x" * (high or 0), *NASTY_STRINGS) if fits(s)]
        return st.one_of(bounded, st.sampled_from(boundary)) if boundary else bounded

    def _number(self, schema: Mapping[str, Any], *, integer: bool) -> Any:
        low = schema.get("minimum")
        high = schema.get("maximum")
        if "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + (1 if integer else 1e-9)
        if "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - (1 if integer else 1e-9)
        if integer:
            values = st.integers(min_value=low, max_value=high)
            edges = [v for v in (low, high, 0, 1, 2**31, 2**63) if v is not None]
            edges = [v for v in edges if (low is None or v >= low) and (high is None or v <= high)]
            return st.one_of(values, st.sampled_from(edges)) if edges else values
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


def json_values(max_leaves: int = 6) -> st.SearchStrategy[JSON]:
    """Any JSON value, small."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(NASTY_STRINGS),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


# -- mutated payloads ----------------------------------------------------------------------------


def deeply_nested(depth: int) -> JSON:
    value: JSON = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"d": value}
    return value


def _other_type(value: JSON) -> st.SearchStrategy[JSON]:
    """A value of a different JSON type than ``value`` (bool counts apart from int)."""
    candidates: list[JSON] = [
        None, True, 0, -1, 2**63, -(2**70), 1.5, -1e308, "", "x", "🙏", [], [value], {},
        {"nested": value},
    ]  # fmt: skip
    return st.sampled_from([c for c in candidates if type(c) is not type(value) or c in ([], {})])


def mutated(valid: st.SearchStrategy[JSON], schema: Mapping[str, Any]) -> st.SearchStrategy[JSON]:
    """Near misses of ``valid``: a required field dropped, a field retyped, an unknown field,
    a huge string, deep nesting, a wrong top-level type, or a nasty string in a string field."""
    required = list(schema.get("required", ()))

    @st.composite
    def near_miss(draw: st.DrawFn) -> JSON:
        payload = draw(valid)
        if not isinstance(payload, dict):
            return payload
        payload = dict(payload)
        how = draw(
            st.sampled_from(
                ["drop", "retype", "extra", "huge", "deep", "nasty", "top", "null_all", "many"]
            )
        )
        keys = sorted(payload)
        if how == "drop" and required:
            payload.pop(draw(st.sampled_from(required)), None)
        elif how == "retype" and keys:
            key = draw(st.sampled_from(keys))
            payload[key] = draw(_other_type(payload[key]))
        elif how == "extra":
            payload[draw(st.sampled_from(["extra", "__proto__", "", "tenant_id ", "id"]))] = draw(
                json_values(3)
            )
        elif how == "huge":
            # Up to ~50 KB on the wire: bigger than any field allows, smaller than the 64 KiB
            # message limit (past it the hub closes the connection, as README "Limits" says).
            char, size = draw(st.sampled_from([("x", 50_000), ("अ", 15_000), ("\u0000", 8_000)]))
            key = draw(st.sampled_from(keys)) if keys else "huge"
            payload[key] = HugeString(char * size)
        elif how == "deep":
            key = draw(st.sampled_from(keys)) if keys else "deep"
            payload[key] = deeply_nested(draw(st.sampled_from([50, 400])))
        elif how == "nasty" and keys:
            payload[draw(st.sampled_from(keys))] = draw(st.sampled_from(NASTY_STRINGS))
        elif how == "top":
            return draw(st.sampled_from([None, [], [payload], "payload", 7, True]))
        elif how == "null_all":
            payload = {k: None for k in payload}
        elif how == "many":
            for i in range(draw(st.integers(50, 300))):
                payload[f"k{i}"] = i
        return payload

    return near_miss()


def payloads(
    schema: Mapping[str, Any],
    *,
    real_ids: Sequence[str] = (),
    real_values: Mapping[str, Sequence[JSON]] | None = None,
) -> st.SearchStrategy[tuple[str, JSON]]:
    """``("valid", payload)`` or ``("mutated", payload)``, about half each."""
    valid = from_json_schema(schema, real_ids=real_ids, real_values=real_values)
    return st.one_of(
        valid.map(lambda p: ("valid", p)), mutated(valid, schema).map(lambda p: ("mutated", p))
    )


# -- running against a live hub -------------------------------------------------------------------


async def run_hypothesis(
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], Coroutine[Any, Any, None]],
    *,
    max_examples: int,
    run_seed: int,
) -> None:
    """Run ``check(example)`` (a coroutine on the current loop) for up to ``max_examples``
    examples of ``strategy``, seeded by ``run_seed``; a failure is shrunk and re-raised here.

    Hypothesis runs in a worker thread (its test function must be synchronous), handing each
    example to the event loop and waiting for the check."""
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=max_examples,
        database=None,  # nothing written to .hypothesis/; the seed replays a run
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @seed(run_seed)
    @given(strategy)
    def fuzz(example: Any) -> None:
        asyncio.run_coroutine_threadsafe(check(example), loop).result(timeout=60)

    await asyncio.to_thread(fuzz)
