"""Notification inbox and the outbox of domain events that feeds it.

A change that should notify someone calls :func:`enqueue` inside its own transaction; the
dispatcher (:func:`dispatch_pending`) turns each outbox row into one inbox row plus one feed
event on the user's stream, exactly once (the row is claimed with SKIP LOCKED and marked in the
same transaction).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from protocols.notifications import NOTIFICATION_EVENT, READ_EVENT, render
from storage import deliveries, feeds


@dataclass(frozen=True)
class Notification:
    id: UUID
    user_id: UUID
    type: str
    title: str
    body: str
    data: dict[str, Any]
    priority: str
    seq: int
    created_at: datetime
    read_at: datetime | None
    expires_at: datetime | None

    def wire(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "title": self.title,
            "body": self.body,
            "data": self.data,
            "priority": self.priority,
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "read_at": self.read_at.isoformat() if self.read_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


async def enqueue(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID | None,
    user_id: UUID,
    kind: str,
    data: dict[str, Any],
    dedupe_key: str,
) -> bool:
    """Queue a domain event for ``user_id``; False if ``dedupe_key`` was queued before."""
    inserted = await conn.fetchval(
        """
        INSERT INTO outbox_events (tenant_id, user_id, type, data, dedupe_key)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
        """,
        tenant_id,
        user_id,
        kind,
        json.dumps(data),
        dedupe_key,
    )
    if inserted is not None:
        await conn.execute("SELECT pg_notify($1, '')", feeds.FEED_CHANNEL)
    return inserted is not None


async def dispatch_pending(
    conn: asyncpg.Connection, *, limit: int, channels: Collection[str] = ()
) -> int:
    """Turn up to ``limit`` outbox rows into notifications, each with its deliveries over the
    external ``channels`` the hub can send on (``storage.deliveries.plan``); returns how many.
    Call it in a transaction (rows stay locked until it ends)."""
    rows = await conn.fetch(
        "SELECT id, tenant_id, user_id, type, data FROM outbox_events "
        "WHERE dispatched_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    for row in rows:
        data = json.loads(row["data"])
        text = render(row["type"], data)
        expires = data.pop("expires_at", None) if row["type"] == "system" else None
        if row["type"] == "waitlist_offer":
            expires = data.get("expires_at")  # the offer's notice lapses with its hold
        if row["type"] == "system":
            data = {k: v for k, v in data.items() if k not in ("title", "body", "priority")}
        note = await _insert(
            conn,
            tenant_id=row["tenant_id"],
            user_id=row["user_id"],
            kind=row["type"],
            title=text.title,
            body=text.body,
            data=data,
            priority=text.priority,
            expires_at=datetime.fromisoformat(expires) if expires else None,
            outbox_id=row["id"],
        )
        if channels:
            await deliveries.plan(
                conn,
                outbox_id=row["id"],
                notification_id=note.id,
                tenant_id=row["tenant_id"],
                user_id=row["user_id"],
                kind=row["type"],
                priority=note.priority,
                data={**data, "title": note.title, "body": note.body},
                available=channels,
            )
    if rows:
        await conn.execute(
            "UPDATE outbox_events SET dispatched_at = now() WHERE id = ANY($1::bigint[])",
            [r["id"] for r in rows],
        )
    return len(rows)


async def _insert(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID | None,
    user_id: UUID,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any],
    priority: str,
    expires_at: datetime | None,
    outbox_id: int | None,
) -> Notification:
    stream = feeds.user_stream(user_id)
    seq = await feeds.next_seq(conn, stream=stream, tenant_id=tenant_id)
    row = await conn.fetchrow(
        """
        INSERT INTO notifications (id, user_id, tenant_id, type, title, body, data, priority,
                                   seq, outbox_id, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        RETURNING *
        """,
        uuid.uuid4(),
        user_id,
        tenant_id,
        kind,
        title,
        body,
        json.dumps(data),
        priority,
        seq,
        outbox_id,
        expires_at,
    )
    note = _notification(row)
    await feeds.record(
        conn,
        stream=stream,
        seq=seq,
        tenant_id=tenant_id,
        room=stream,
        event=NOTIFICATION_EVENT,
        payload=note.wire(),
    )
    return note


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"n{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Raises ValueError for a cursor this module did not make."""
    padded = cursor + "=" * (-len(cursor) % 4)
    text = base64.urlsafe_b64decode(padded.encode()).decode()
    if not text.startswith("n"):
        raise ValueError("not a notification cursor")
    return int(text[1:])


async def page(
    conn: asyncpg.Connection,
    *,
    user_id: UUID,
    cursor: int | None,
    limit: int,
    unread_only: bool,
) -> tuple[list[Notification], str | None, int]:
    """Newest first (by the user's feed seq, which is commit order), expired ones left out;
    returns (items, next cursor, unread count)."""
    rows = await conn.fetch(
        """
        SELECT * FROM notifications
        WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > now())
          AND ($2::bigint IS NULL OR seq < $2) AND (NOT $3 OR read_at IS NULL)
        ORDER BY seq DESC LIMIT $4
        """,
        user_id,
        cursor,
        unread_only,
        limit + 1,
    )
    items = [_notification(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].seq) if more and items else None
    unread = await conn.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL "
        "AND (expires_at IS NULL OR expires_at > now())",
        user_id,
    )
    return items, next_cursor, int(unread)


async def mark_read(
    conn: asyncpg.Connection, *, user_id: UUID, ids: list[UUID] | None
) -> list[UUID]:
    """Mark the user's ``ids`` (None: all) read; returns those that were unread until now."""
    rows = await conn.fetch(
        """
        UPDATE notifications SET read_at = now()
        WHERE user_id = $1 AND read_at IS NULL AND ($2::uuid[] IS NULL OR id = ANY($2))
        RETURNING id
        """,
        user_id,
        ids,
    )
    return [r["id"] for r in rows]


async def owned_ids(conn: asyncpg.Connection, *, user_id: UUID, ids: list[UUID]) -> set[UUID]:
    rows = await conn.fetch(
        "SELECT id FROM notifications WHERE user_id = $1 AND id = ANY($2::uuid[])", user_id, ids
    )
    return {r["id"] for r in rows}


def _notification(row: asyncpg.Record) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        type=row["type"],
        title=row["title"],
        body=row["body"],
        data=json.loads(row["data"]),
        priority=row["priority"],
        seq=row["seq"],
        created_at=row["created_at"],
        read_at=row["read_at"],
        expires_at=row["expires_at"],
    )


async def read_and_announce(
    conn: asyncpg.Connection, *, user_id: UUID, tenant_id: UUID | None, ids: list[UUID] | None
) -> tuple[list[UUID], int | None]:
    """:func:`mark_read` plus one ``notifications:read`` event on the user's stream (so the
    user's other devices clear them too); returns (ids now read, its seq or None if nothing
    changed). Call it in a transaction."""
    changed = await mark_read(conn, user_id=user_id, ids=ids)
    if not changed:
        return changed, None
    stream = feeds.user_stream(user_id)
    payload: dict[str, Any] = {"ids": [str(i) for i in changed], "all": ids is None}
    seq = await feeds.append(
        conn, stream=stream, tenant_id=tenant_id, room=stream, event=READ_EVENT, payload=payload
    )
    return changed, seq


async def enqueue_confirmations(
    conn: asyncpg.Connection,
    *,
    tenant_ids: list[UUID],
    user_ids: list[UUID],
    hold_ids: list[UUID],
    slot_ids: list[UUID],
) -> None:
    """``booking_confirmed`` for each newly confirmed hold of a shard's batch, in one statement
    (the batch is the shard's group commit; a re-applied batch queues nothing twice). A
    consultation's data also carries its room's ``meeting_url`` (``storage.meetings``).

    The days of a seat plan (holds keyed ``seat-plan:<plan id>:...`` by a plan of their own
    user) queue none: the plan queues one confirmation when it is paid
    (``storage.seat_plans.activate``)."""
    await conn.execute(
        """
        INSERT INTO outbox_events (tenant_id, user_id, type, data, dedupe_key)
        SELECT t, u, 'booking_confirmed',
               jsonb_build_object('booking_id', h, 'slot_id', s)
                   || CASE WHEN m.url IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('meeting_url', m.url) END,
               'booking_confirmed:' || h
        FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[]) AS x(t, u, h, s)
        LEFT JOIN booking_meetings m ON m.hold_id = x.h
        WHERE NOT EXISTS (
            SELECT 1 FROM holds hh JOIN seat_plans p
                ON p.tenant_id = hh.tenant_id AND p.user_id = hh.user_id
            WHERE hh.id = x.h AND starts_with(hh.idempotency_key, 'seat-plan:')
              AND starts_with(hh.idempotency_key, 'seat-plan:' || p.id || ':'))
        ON CONFLICT (dedupe_key) DO NOTHING
        """,
        tenant_ids,
        user_ids,
        hold_ids,
        slot_ids,
    )
    await conn.execute("SELECT pg_notify($1, '')", feeds.FEED_CHANNEL)


async def enqueue_for_admins(
    conn: asyncpg.Connection, *, tenant_id: UUID, kind: str, data: dict[str, Any], dedupe_key: str
) -> int:
    """Queue ``kind`` for every tenant admin of ``tenant_id`` (once per admin and key)."""
    admins = await conn.fetch(
        "SELECT id FROM users WHERE tenant_id = $1 AND role = 'tenant_admin'", tenant_id
    )
    queued = 0
    for admin in admins:
        queued += await enqueue(
            conn,
            tenant_id=tenant_id,
            user_id=admin["id"],
            kind=kind,
            data=data,
            dedupe_key=f"{dedupe_key}:{admin['id']}",
        )
    return queued
