"""Socket.IO events of the user feed, notification inbox, booking live status and streams.

Client → server (each acks ``{"ok": true, "data": ...}`` or an error):
``user:sync {since}``, ``notifications:list {cursor?, limit?, unread_only?}``,
``notifications:read {ids | all: true}``, ``live:status {booking_id, status, note?}``,
``live:subscribe {booking_id, since?}``, ``live:unsubscribe {booking_id}``,
``stream:start {booking_id | resource_id, url, kind}``, ``stream:stop {stream_id}``,
``stream:join {stream_id}``, ``stream:leave {stream_id}``, ``presence:get {user_ids}``.

Server → client: ``notification``, ``notifications:read``, ``live:status``, ``stream``
(each with ``stream`` and ``seq``) and ``stream:viewers {stream_id, viewers}``.
"""

from __future__ import annotations

from typing import Any

from hub.auth import Principal
from hub.inbox import Inbox
from hub.live import LiveStatusService
from hub.presence import Presence
from hub.sockets import SocketGateway
from hub.streams import StreamService
from protocols.live import (
    FollowBooking,
    GetPresence,
    PushLiveStatus,
    StartStream,
    StreamRef,
    SyncUserFeed,
    UnfollowBooking,
)
from protocols.notifications import ListNotifications, ReadNotifications


class LiveEvents:
    def __init__(
        self,
        *,
        inbox: Inbox,
        live: LiveStatusService,
        streams: StreamService,
        presence: Presence,
    ) -> None:
        self._inbox = inbox
        self._live = live
        self._streams = streams
        self._presence = presence

    def register(self, gateway: SocketGateway) -> None:
        gateway.handle("user:sync", SyncUserFeed, self._sync)
        gateway.handle("notifications:list", ListNotifications, self._list)
        gateway.handle("notifications:read", ReadNotifications, self._read)
        gateway.handle("live:status", PushLiveStatus, self._push)
        gateway.handle("live:subscribe", FollowBooking, self._follow)
        gateway.handle("live:unsubscribe", UnfollowBooking, self._unfollow)
        gateway.handle("stream:start", StartStream, self._start)
        gateway.handle("stream:stop", StreamRef, self._stop)
        gateway.handle("stream:join", StreamRef, self._join)
        gateway.handle("stream:leave", StreamRef, self._leave)
        gateway.handle("presence:get", GetPresence, self._presence_get)
        gateway.on_disconnect(self._streams.disconnected)
        gateway.on_connect(self._presence.connected)
        gateway.on_disconnect(self._presence.disconnected)

    async def _sync(self, sid: str, principal: Principal, request: SyncUserFeed) -> Any:
        return await self._inbox.sync(sid, principal, request.since)

    async def _list(self, sid: str, principal: Principal, request: ListNotifications) -> Any:
        return await self._inbox.page(principal, request)

    async def _read(self, sid: str, principal: Principal, request: ReadNotifications) -> Any:
        return await self._inbox.read(principal, request.ids)

    async def _push(self, sid: str, principal: Principal, request: PushLiveStatus) -> Any:
        return await self._live.push(principal, request)

    async def _follow(self, sid: str, principal: Principal, request: FollowBooking) -> Any:
        return await self._live.follow(sid, principal, request)

    async def _unfollow(self, sid: str, principal: Principal, request: UnfollowBooking) -> Any:
        return await self._live.unfollow(sid, request.booking_id)

    async def _start(self, sid: str, principal: Principal, request: StartStream) -> Any:
        return await self._streams.start_stream(principal, request)

    async def _stop(self, sid: str, principal: Principal, request: StreamRef) -> Any:
        return await self._streams.stop_stream(principal, request.stream_id)

    async def _join(self, sid: str, principal: Principal, request: StreamRef) -> dict[str, Any]:
        return await self._streams.join(sid, principal, request.stream_id)

    async def _leave(self, sid: str, principal: Principal, request: StreamRef) -> Any:
        return await self._streams.leave(sid, request.stream_id)

    async def _presence_get(self, sid: str, principal: Principal, request: GetPresence) -> Any:
        return await self._presence.get(principal, request)
