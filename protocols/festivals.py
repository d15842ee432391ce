"""A tenant's festival calendar: what a tenant admin adds and what the tenant's users read."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator, model_validator

from protocols.panchang import FIRST_DAY, LAST_DAY, Day
from protocols.wire import IdempotencyKey, IsoDate, WireModel, parse_iso_date

MASAS = (
    "chaitra",
    "vaishakha",
    "jyeshtha",
    "ashadha",
    "shravana",
    "bhadrapada",
    "ashwin",
    "kartika",
    "margashirsha",
    "pausha",
    "magha",
    "phalguna",
)
Masa = Literal[
    "chaitra",
    "vaishakha",
    "jyeshtha",
    "ashadha",
    "shravana",
    "bhadrapada",
    "ashwin",
    "kartika",
    "margashirsha",
    "pausha",
    "magha",
    "phalguna",
]
MAX_RANGE_DAYS = 366


def _check_day(value: str) -> str:
    day = parse_iso_date(value)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"date must be between {FIRST_DAY} and {LAST_DAY}")
    return value


class TithiRule(WireModel):
    """The lunar day that fixes a festival, e.g. Kartika Purnima = ``{masa: "kartika", paksha:
    "shukla", tithi: 15}``; ``tithi`` counts within the paksha (Krishna 15 is Amavasya)."""

    paksha: Literal["shukla", "krishna"]
    tithi: int = Field(ge=1, le=15)
    masa: Masa | None = None

    @property
    def tithi_of_month(self) -> int:
        """1..30 as the panchang numbers tithis."""
        return self.tithi if self.paksha == "shukla" else self.tithi + 15


class CreateFestival(WireModel):
    """``POST /api/v1/festivals``."""

    name: str = Field(min_length=1, max_length=200)
    date: IsoDate
    description: str | None = Field(default=None, max_length=2000)
    tithi_rule: TithiRule | None = None
    idempotency_key: IdempotencyKey | None = None

    @field_validator("date")
    @classmethod
    def _in_range(cls, value: str) -> str:
        return _check_day(value)

    @property
    def day(self) -> Day:
        return parse_iso_date(self.date)


class FestivalRange(WireModel):
    """``GET /api/v1/tenants/{tenant_id}/festivals?from=&to=`` (both inclusive, at most a
    year apart)."""

    from_: IsoDate = Field(alias="from")
    to: IsoDate

    @field_validator("from_", "to")
    @classmethod
    def _in_range(cls, value: str) -> str:
        return _check_day(value)

    @model_validator(mode="after")
    def _ordered(self) -> FestivalRange:
        first, last = parse_iso_date(self.from_), parse_iso_date(self.to)
        if last < first:
            raise ValueError("to is before from")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValueError(f"at most {MAX_RANGE_DAYS} days at a time")
        return self

    @property
    def first(self) -> date:
        return parse_iso_date(self.from_)

    @property
    def last(self) -> date:
        return parse_iso_date(self.to)


# -- answers ---------------------------------------------------------------------------------


class FestivalView(WireModel):
    """One entry of a tenant's festival calendar (``POST /api/v1/festivals`` answers it)."""

    festival_id: UUID
    tenant_id: UUID
    name: str
    date: date
    description: str | None
    tithi_rule: TithiRule | None
    created_at: datetime


class FestivalList(WireModel):
    """``GET /api/v1/tenants/{tenant_id}/festivals``: the entries dated ``from``..``to``
    (inclusive, the range actually used when the query left them out), by date."""

    model_config = ConfigDict(populate_by_name=True)

    tenant_id: UUID
    from_: date = Field(alias="from")
    to: date
    festivals: list[FestivalView]
