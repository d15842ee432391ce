"""Socket.IO events of the study-library platform: ``occupancy:subscribe {library_id}`` (ack:
the occupancy now; then ``occupancy`` events after every check-in and check-out) and
``occupancy:unsubscribe {library_id}``."""

from __future__ import annotations

from typing import Any

from hub.attendance import AttendanceService
from hub.auth import Principal
from hub.sockets import SocketGateway
from protocols.library import FollowOccupancy


class LibraryEvents:
    def __init__(self, *, attendance: AttendanceService) -> None:
        self._attendance = attendance

    def register(self, gateway: SocketGateway) -> None:
        gateway.handle("occupancy:subscribe", FollowOccupancy, self._follow)
        gateway.handle("occupancy:unsubscribe", FollowOccupancy, self._unfollow)

    async def _follow(self, sid: str, principal: Principal, request: FollowOccupancy) -> Any:
        return await self._attendance.follow(sid, principal, request.library_id)

    async def _unfollow(self, sid: str, principal: Principal, request: FollowOccupancy) -> Any:
        return await self._attendance.unfollow(sid, request.library_id)
