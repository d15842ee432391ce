"""Padel venues: split payments of a court hold, the venue room's court status, open matches.

Pure rules live here too (:func:`split_amounts`), so they are tested without a database.
"""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field, StrictInt, model_validator

from protocols.auth import Email, Phone
from protocols.catalog import MAX_PRICE_PAISE
from protocols.payments import PaymentView
from protocols.wire import IdempotencyKey, WireModel

MAX_INVITED_PLAYERS = 3
CourtState = Literal["free", "booked", "in_play", "maintenance"]
SplitStatus = Literal["open", "confirming", "confirmed", "cancelling", "cancelled"]
ShareStatus = Literal["pending", "paid", "settled", "refunded"]


def split_amounts(total_paise: int, players: int) -> list[int]:
    """Shares of ``total_paise`` for ``players`` (the booker first): equal integer paise, the
    remainder on the booker's share, so they always sum to ``total_paise`` exactly."""
    if players < 1 or total_paise < 0:
        raise ValueError("a split needs at least one player and a non-negative total")
    base, remainder = divmod(total_paise, players)
    return [base + remainder] + [base] * (players - 1)


class CreateSplit(WireModel):
    """``POST /api/v1/holds/{hold_id}/split``: invite 1 to 3 players of the same tenant, by user id,
    phone or email (any mix; together at most 3)."""

    player_user_ids: list[UUID] = Field(default_factory=list, max_length=MAX_INVITED_PLAYERS)
    phones: list[Phone] = Field(default_factory=list, max_length=MAX_INVITED_PLAYERS)
    emails: list[Email] = Field(default_factory=list, max_length=MAX_INVITED_PLAYERS)
    idempotency_key: IdempotencyKey

    @model_validator(mode="after")
    def _one_to_three(self) -> CreateSplit:
        count = len(self.player_user_ids) + len(self.phones) + len(self.emails)
        if not 1 <= count <= MAX_INVITED_PLAYERS:
            raise ValueError(f"invite 1 to {MAX_INVITED_PLAYERS} players")
        return self


class PayShare(WireModel):
    """``POST /api/v1/holds/{hold_id}/split/pay``: pay the caller's share."""

    method: Literal["wallet", "gateway"]
    idempotency_key: IdempotencyKey


class SubscribeVenue(WireModel):
    """``venue:subscribe``: the tenant's court status, then ``court`` events."""

    tenant_id: UUID
    since: StrictInt | None = Field(default=None, ge=0)


class SetCourtStatus(WireModel):
    """``court:status`` (staff): ``booked`` comes from bookings, not from staff."""

    court_id: UUID
    status: Literal["free", "in_play", "maintenance"]
    slot_id: UUID | None = None


class OpenMatch(WireModel):
    """``POST /api/v1/bookings/{booking_id}/open-match``."""

    spots: StrictInt = Field(ge=1, le=MAX_INVITED_PLAYERS)
    level: str | None = Field(default=None, min_length=1, max_length=40)
    share_paise: StrictInt | None = Field(default=None, ge=0, le=MAX_PRICE_PAISE)


class JoinMatch(WireModel):
    """``POST /api/v1/open-matches/{match_id}/join``."""

    idempotency_key: IdempotencyKey


# -- answers ---------------------------------------------------------------------------------


class ShareView(WireModel):
    user_id: UUID
    amount_paise: int
    status: ShareStatus
    method: Literal["wallet", "gateway"] | None = Field(description="null until the share is paid")


class SplitView(WireModel):
    """``POST`` and ``GET /api/v1/holds/{hold_id}/split``: the split and its shares, the booker's
    first."""

    hold_id: UUID
    status: SplitStatus
    amount_paise: int
    booker_user_id: UUID
    expires_at: datetime
    shares: list[ShareView]


class OpenMatchView(WireModel):
    """An open match: a confirmed court booking with spots for other players."""

    match_id: UUID
    booking_id: UUID
    court_id: UUID
    court_name: str
    slot_id: UUID
    starts_at: datetime
    ends_at: datetime
    date: Date = Field(description="the venue's local date of the game")
    spots: int
    joined: int
    spots_left: int
    level: str | None
    share_paise: int | None
    opened_by: UUID


class OpenMatchList(WireModel):
    """``GET /api/v1/open-matches?date=``: the day's matches that have not started."""

    matches: list[OpenMatchView]


class JoinedMatchView(OpenMatchView):
    """``POST /api/v1/open-matches/{match_id}/join``: the match and who joined it."""

    players: list[UUID] = Field(description="users who joined, the caller included")


class SharePaid(WireModel):
    """``POST /api/v1/holds/{hold_id}/split/pay``: the split after the caller's payment;
    ``payment`` is the gateway payment to complete (method ``gateway``), else null (paid from
    the wallet, or the share was no longer pending)."""

    split: SplitView
    payment: PaymentView | None
