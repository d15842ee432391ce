"""The notification inbox of a user: listing, marking read (on every device), system notices."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import socketio

from hub.auth import Principal
from hub.feeds import catch_up
from protocols.errors import Invalid, NotFound
from protocols.notifications import ListNotifications, SendSystemNotice
from storage import notifications
from storage.feeds import user_stream
from storage.users import get_user


class Inbox:
    def __init__(self, *, db: asyncpg.Pool, sio: socketio.AsyncServer) -> None:
        self._db = db
        self._sio = sio

    async def sync(self, sid: str, principal: Principal, since: int) -> dict[str, Any]:
        """``user:sync``: replay the user's own feed (notifications, reads, live status,
        streams) after ``since``, or reset with the inbox's first page."""
        user_id = principal.user_id

        async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
            return await self.snapshot(conn, user_id)

        return await catch_up(
            self._db,
            self._sio,
            sid=sid,
            stream=user_stream(user_id),
            since=since,
            snapshot=snapshot,
        )

    async def page(self, principal: Principal, request: ListNotifications) -> dict[str, Any]:
        try:
            cursor = notifications.decode_cursor(request.cursor) if request.cursor else None
        except ValueError as exc:
            raise Invalid("cursor is not one this server gave out", {"loc": ["cursor"]}) from exc
        async with self._db.acquire() as conn:
            items, next_cursor, unread = await notifications.page(
                conn,
                user_id=principal.user_id,
                cursor=cursor,
                limit=request.limit,
                unread_only=request.unread_only,
            )
        return {"items": [n.wire() for n in items], "next_cursor": next_cursor, "unread": unread}

    async def snapshot(self, conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any]:
        """The reset snapshot of a user's feed: the newest page and the unread count."""
        items, next_cursor, unread = await notifications.page(
            conn, user_id=user_id, cursor=None, limit=20, unread_only=False
        )
        return {"items": [n.wire() for n in items], "next_cursor": next_cursor, "unread": unread}

    async def read(self, principal: Principal, ids: list[UUID] | None) -> dict[str, Any]:
        """Mark read; every socket of the user then gets ``notifications:read``. Unknown or
        foreign ids are refused as a whole (nothing is marked)."""
        async with self._db.acquire() as conn, conn.transaction():
            if ids is not None:
                mine = await notifications.owned_ids(conn, user_id=principal.user_id, ids=ids)
                unknown = [str(i) for i in ids if i not in mine]
                if unknown:
                    raise NotFound("no such notification", {"ids": unknown})
            changed, seq = await notifications.read_and_announce(
                conn, user_id=principal.user_id, tenant_id=principal.tenant_id, ids=ids
            )
        return {
            "read": [str(i) for i in changed],
            "all": ids is None,
            "stream": user_stream(principal.user_id),
            "seq": seq,
        }

    async def send_system(
        self, principal: Principal, tenant_id: UUID, request: SendSystemNotice
    ) -> dict[str, Any]:
        """Queue a ``system`` notice for each of the tenant's ``user_ids`` (idempotent per
        key and user); it reaches them after commit through the outbox."""
        if not principal.may_act_in(tenant_id):
            raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
        queued = 0
        async with self._db.acquire() as conn, conn.transaction():
            for user_id in request.user_ids:
                if await get_user(conn, tenant_id=tenant_id, user_id=user_id) is None:
                    raise NotFound("no such user in this tenant", {"user_id": str(user_id)})
            for user_id in request.user_ids:
                data: dict[str, Any] = {
                    "title": request.title,
                    "body": request.body,
                    "priority": request.priority,
                }
                if request.expires_at is not None:
                    data["expires_at"] = request.expires_at.isoformat()
                queued += await notifications.enqueue(
                    conn,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    kind="system",
                    data=data,
                    dedupe_key=f"system:{tenant_id}:{request.idempotency_key}:{user_id}",
                )
        return {"queued": queued, "users": len(request.user_ids)}
