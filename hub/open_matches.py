"""Open matches: a booked court made public so other players of the venue can join.

Joining takes the match's row lock (``SELECT ... FOR UPDATE``), so concurrent joins queue and a
match never has more players than spots. A joined player becomes a member account of the
booking (live status, reports). The share a joiner owes (``share_paise``) is shown, not charged:
they settle it with the booker.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from protocols.errors import Conflict, Invalid, NotFound
from protocols.padel import JoinMatch, OpenMatch
from protocols.wire import parse_iso_date
from storage import venues
from storage.notifications import enqueue
from storage.tenancy import tenant_scope


class OpenMatches:
    def __init__(self, *, db: asyncpg.Pool) -> None:
        self._db = db

    async def open(
        self, principal: Principal, booking_id: UUID, request: OpenMatch
    ) -> tuple[dict[str, Any], bool]:
        """Open the caller's confirmed court booking (or, for staff, any of the tenant's);
        again: the same match (False), or Conflict if asked with other fields."""
        tenant_id = _tenant(principal, booking_id)
        async with tenant_scope(self._db, tenant_id) as conn:
            booking = await venues.booking(conn, tenant_id=tenant_id, hold_id=booking_id)
            if booking is None or not (
                booking.user_id == principal.user_id or principal.is_staff_of(tenant_id)
            ):
                raise NotFound("no such booking", {"booking_id": str(booking_id)})
            if booking.court_id is None:
                raise Conflict("only a court booking can be an open match", {"reason": "not_court"})
            if booking.status != "confirmed":
                raise Conflict(
                    "only a confirmed booking can be an open match",
                    {"reason": "not_confirmed", "status": booking.status},
                )
            if booking.starts_at <= datetime.now(UTC):
                raise Conflict("this game has started", {"reason": "started"})
            match, made = await venues.open_match(
                conn,
                match_id=uuid.uuid4(),
                tenant_id=tenant_id,
                hold_id=booking_id,
                opened_by=principal.user_id,
                spots=request.spots,
                level=request.level,
                share_paise=request.share_paise,
                local_date=booking.local_date,
            )
        if not made and (match["spots"], match["level"], match["share_paise"]) != (
            request.spots,
            request.level,
            request.share_paise,
        ):
            raise Conflict(
                "this booking is already an open match",
                {"reason": "exists_with_different_fields", "match_id": match["match_id"]},
            )
        return match, made

    async def list(self, principal: Principal, day: str | None) -> dict[str, Any]:
        if principal.tenant_id is None:
            raise Invalid("open matches are listed by a tenant's users")
        if day is None:
            raise Invalid("date is required", {"loc": ["query", "date"]})
        try:
            parsed = parse_iso_date(day)
        except ValueError as exc:
            raise Invalid("date must be YYYY-MM-DD", {"loc": ["query", "date"]}) from exc
        async with tenant_scope(self._db, principal.tenant_id, readonly=True) as conn:
            matches = await venues.matches_on(conn, tenant_id=principal.tenant_id, day=parsed)
        return {"matches": matches}

    async def join(
        self, principal: Principal, match_id: UUID, request: JoinMatch
    ) -> tuple[dict[str, Any], bool]:
        """Take one spot; joining again answers the match (False). Conflict ``full``,
        ``already_playing`` (the booker or a member), ``not_confirmed`` or ``started``."""
        if principal.tenant_id is None:
            raise NotFound("no such match", {"match_id": str(match_id)})
        tenant_id = principal.tenant_id
        async with tenant_scope(self._db, tenant_id) as conn:
            match = await venues.get_match(
                conn, tenant_id=tenant_id, match_id=match_id, for_update=True
            )
            if match is None:
                raise NotFound("no such match", {"match_id": str(match_id)})
            hold_id = UUID(match["booking_id"])
            joined = await venues.players(conn, tenant_id=tenant_id, match_id=match_id)
            if principal.user_id in joined:
                return {**match, "players": [str(u) for u in joined]}, False
            booking = await venues.booking(conn, tenant_id=tenant_id, hold_id=hold_id)
            assert booking is not None
            if booking.user_id == principal.user_id or await venues.is_member(
                conn, tenant_id=tenant_id, hold_id=hold_id, user_id=principal.user_id
            ):
                raise Conflict("you already play in this game", {"reason": "already_playing"})
            if booking.status != "confirmed":
                raise Conflict("this booking is no longer confirmed", {"reason": "not_confirmed"})
            if booking.starts_at <= datetime.now(UTC):
                raise Conflict("this game has started", {"reason": "started"})
            if match["joined"] >= match["spots"]:
                raise Conflict("this match is full", {"reason": "full", "spots": match["spots"]})
            await venues.join(
                conn,
                tenant_id=tenant_id,
                match_id=match_id,
                hold_id=hold_id,
                user_id=principal.user_id,
                idempotency_key=request.idempotency_key,
            )
            await enqueue(
                conn,
                tenant_id=tenant_id,
                user_id=booking.user_id,
                kind="system",
                data={
                    "title": "A player joined your open match",
                    "body": f"{match['court_name']}: {match['spots'] - match['joined'] - 1} "
                    "spots left.",
                    "match_id": str(match_id),
                    "booking_id": str(hold_id),
                },
                dedupe_key=f"match_join:{match_id}:{principal.user_id}",
            )
            match = await venues.get_match(conn, tenant_id=tenant_id, match_id=match_id)
            assert match is not None
        return {**match, "players": [str(u) for u in [*joined, principal.user_id]]}, True


def _tenant(principal: Principal, booking_id: UUID) -> UUID:
    if principal.tenant_id is None:
        raise NotFound("no such booking", {"booking_id": str(booking_id)})
    return principal.tenant_id
