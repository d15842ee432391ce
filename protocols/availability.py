"""Availability of a resource's slots on one local date: snapshots and live deltas.

A *stream* is ``availability:{tenant_id}:{resource_id}:{YYYY-MM-DD}``. Every committed change to
a slot of the stream gets the next ``seq`` (gap-free, starting at 1); a client that has applied
everything up to ``seq`` can resume with ``since=seq``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import Field, StrictInt, field_validator

from protocols.wire import IsoDate, WireModel, parse_iso_date


def stream_name(tenant_id: UUID, resource_id: UUID, day: dt.date) -> str:
    return f"availability:{tenant_id}:{resource_id}:{day.isoformat()}"


class SubscribeAvailability(WireModel):
    """``availability:subscribe``: join a stream, optionally replaying what was missed."""

    tenant_id: UUID
    resource_id: UUID
    date: IsoDate
    since: StrictInt | None = Field(default=None, ge=0)

    @field_validator("date")
    @classmethod
    def _real_date(cls, value: str) -> str:
        parse_iso_date(value)
        return value

    @property
    def day(self) -> dt.date:
        return parse_iso_date(self.date)


class UnsubscribeAvailability(WireModel):
    """``availability:unsubscribe``."""

    stream: str = Field(min_length=1, max_length=200)


class SlotAvailability(WireModel):
    slot_id: UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    available: int
    price_paise: int


class AvailabilitySnapshot(WireModel):
    """Ack of ``availability:subscribe`` and body of the REST availability route.

    ``replayed`` is how many ``availability`` deltas were sent to this client before the ack
    (only with ``since``); ``mode`` says whether ``since`` could be honoured by replay:
    ``snapshot`` (no ``since``), ``replay`` (the missed deltas were sent), ``reset`` (``since``
    is older than the retention or not a seq of the stream: replace what you had).
    """

    stream: str
    seq: int
    slots: list[SlotAvailability]
    mode: Literal["snapshot", "replay", "reset"] = "snapshot"
    replayed: int = 0


class SlotDelta(WireModel):
    slot_id: UUID
    available: int


class AvailabilityChanged(WireModel):
    """Server → client ``availability``: one committed change, ``seq`` one above the last."""

    stream: str
    seq: int
    slots: list[SlotDelta]
