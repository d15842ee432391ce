"""The venue room: live court status for a padel tenant's subscribers.

``venue:subscribe {tenant_id, since?}`` joins the socket to the room ``venue:{tenant_id}`` and
answers the courts' current status (or replays missed ``court`` events after ``since``). Staff
set ``in_play`` / ``maintenance`` / ``free`` with ``court:status``; every booking of a court slot
that is confirmed sets it ``booked``, and one that is cancelled ``free``, in the tenant actor's
commit (``storage/court_bookings.py``). Each change is stored with its ``court`` event in one
transaction; the feed relay publishes it after commit, in ``seq`` order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import socketio

from hub.auth import Principal
from hub.feeds import catch_up
from protocols.errors import NotFound
from protocols.padel import SetCourtStatus, SubscribeVenue
from storage import venues
from storage.tenancy import tenant_scope


class VenueService:
    def __init__(self, *, db: asyncpg.Pool, sio: socketio.AsyncServer) -> None:
        self._db = db
        self._sio = sio

    async def subscribe(
        self, sid: str, principal: Principal, request: SubscribeVenue
    ) -> dict[str, Any]:
        """Join the venue room; the ack is like ``user:sync`` with ``snapshot: {courts}``.
        Another tenant's venue is ``not_found``."""
        if not principal.may_act_in(request.tenant_id):
            raise NotFound("no such venue", {"tenant_id": str(request.tenant_id)})
        stream = venues.venue_stream(request.tenant_id)
        # Joined first, so no event committed after the snapshot is missed (duplicates are
        # dropped by seq on the client).
        await self._sio.enter_room(sid, stream)
        tenant_id = request.tenant_id

        async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
            return {"courts": await venues.courts(conn, tenant_id=tenant_id)}

        return await catch_up(
            self._db, self._sio, sid=sid, stream=stream, since=request.since, snapshot=snapshot
        )

    async def set_status(self, principal: Principal, request: SetCourtStatus) -> dict[str, Any]:
        """Staff of the court's tenant set its status; NotFound for anything but their court."""
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise NotFound("no such court", {"court_id": str(request.court_id)})
        async with tenant_scope(self._db, tenant_id) as conn:
            if not await venues.is_court(conn, tenant_id=tenant_id, resource_id=request.court_id):
                raise NotFound("no such court", {"court_id": str(request.court_id)})
            if request.slot_id is not None and (
                await venues.court_of_slot(conn, tenant_id=tenant_id, slot_id=request.slot_id)
                != request.court_id
            ):
                raise NotFound("no such slot of this court", {"slot_id": str(request.slot_id)})
            return await venues.set_court_status(
                conn,
                tenant_id=tenant_id,
                court_id=request.court_id,
                status=request.status,
                slot_id=request.slot_id,
                by_user_id=principal.user_id,
                at=datetime.now(UTC),
            )
