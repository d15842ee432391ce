"""Consultations (astrology): a tenant's consultation settings and the reschedule fee rule."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, field_validator

from protocols.meetings import check_base_url
from protocols.wire import WireModel

MAX_RESCHEDULE_FEE_PAISE = 10_000_000  # ₹1,00,000


class ConsultationSettings(WireModel):
    """``PUT /api/v1/consultation-settings``: the meeting server (``null``: the default) and
    the reschedule policy: the first ``free_reschedules`` moves of a booking are free, each
    later one costs ``reschedule_fee_paise`` from the client's wallet."""

    meeting_base_url: str | None = None
    reschedule_fee_paise: int = Field(ge=0, le=MAX_RESCHEDULE_FEE_PAISE)
    free_reschedules: int = Field(default=1, ge=0, le=100)

    @field_validator("meeting_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return check_base_url(value) if value is not None else None


def reschedule_fee(*, moves_before: int, free_reschedules: int, fee_paise: int) -> int:
    """What the next move of a booking costs, given how many moves it had before."""
    return fee_paise if moves_before >= free_reschedules else 0


# -- answers ---------------------------------------------------------------------------------


class ConsultationSettingsView(WireModel):
    """``GET`` and ``PUT /api/v1/consultation-settings``: the tenant's settings (defaults when
    it never saved any)."""

    tenant_id: UUID
    meeting_base_url: str | None = Field(description="null: the hub's default meeting server")
    reschedule_fee_paise: int
    free_reschedules: int
