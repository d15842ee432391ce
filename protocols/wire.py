"""Base class for every wire model: unknown fields are refused, values are not silently coerced."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]
"""Printable ASCII without spaces, at most 128 characters (a UUID fits)."""

# [0-9], not \d: \d also matches other scripts' digits, which date.fromisoformat refuses.
IsoDate = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=4096)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        # PostgreSQL stores no NUL character in text or jsonb: refused here as invalid input
        # rather than failing the write later as an internal error.
        if _holds_nul(data):
            raise ValueError("text may not contain the NUL character (\\u0000)")
        return data


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


def parse_iso_date(value: str) -> date:
    """``YYYY-MM-DD`` to a date; raises ValueError for impossible dates like 2026-02-30."""
    return date.fromisoformat(value)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as plain JSON: where, what, and never the offending input echoed back."""
    return [
        {"loc": [str(part) for part in err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
