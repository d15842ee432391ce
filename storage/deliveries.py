"""Deliveries of notifications over email, SMS and WhatsApp, and users' channel preferences.

Lifecycle (``status``)::

    queued ──claim──▶ sending ──▶ sent
                        │  ├────▶ failed ──(next_attempt_at)──▶ sending ...
                        │  ├────▶ dead            (permanent error, or too many attempts)
                        │  └────▶ skipped_insufficient_credits
                        └─(lease expired: the sender died)──▶ claimed again

A claim sets ``lease_until``; every outcome is written only while the row is still ``sending``
under that claim, so a sender whose lease ran out cannot overwrite a newer one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from protocols.channels.interface import ChannelName, PermanentChannelError, check_template

EXTERNAL_CHANNELS: tuple[ChannelName, ...] = ("email", "sms", "whatsapp")
DEFAULT_CHANNELS = ("in_app", "email", "sms")
"""Without a preference: in-app, email and SMS where the user has an address/number."""


@dataclass(frozen=True)
class Delivery:
    id: UUID
    tenant_id: UUID | None
    user_id: UUID
    channel: str
    kind: str
    language: str
    recipient: str
    data: dict[str, Any]
    status: str
    attempts: int
    generation: int
    credits_reserved: bool
    last_error: str | None
    provider_message_id: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None

    @property
    def credit_pending_id(self) -> str:
        return f"delivery:{self.id}:{self.generation}"

    def wire(self) -> dict[str, Any]:
        return {
            "delivery_id": str(self.id),
            "tenant_id": str(self.tenant_id) if self.tenant_id else None,
            "user_id": str(self.user_id),
            "channel": self.channel,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "provider_message_id": self.provider_message_id,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "created_at": self.created_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


async def wanted_channels(conn: asyncpg.Connection, *, user_id: UUID, kind: str) -> list[str]:
    row = await conn.fetchrow(
        "SELECT channels FROM notification_preferences WHERE user_id = $1 AND type IN ($2, '*') "
        "ORDER BY type = '*' LIMIT 1",
        user_id,
        kind,
    )
    return list(row["channels"]) if row else list(DEFAULT_CHANNELS)


async def plan(
    conn: asyncpg.Connection,
    *,
    outbox_id: int,
    notification_id: UUID,
    tenant_id: UUID | None,
    user_id: UUID,
    kind: str,
    priority: str,
    data: dict[str, Any],
    available: Collection[str],
) -> int:
    """Queue one delivery per channel the user wants, the hub can send over (``available``),
    the user has an address for and a template is registered for. In quiet hours, anything
    but ``high`` priority waits for their end. Idempotent per outbox row and channel. Returns
    how many were queued."""
    user = await conn.fetchrow(
        "SELECT u.email, u.phone, u.language, u.quiet_start, u.quiet_end, "
        "coalesce(t.timezone, 'Asia/Kolkata') AS timezone "
        "FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
        user_id,
    )
    if user is None:
        return 0
    wanted = await wanted_channels(conn, user_id=user_id, kind=kind)
    address = {"email": user["email"], "sms": user["phone"], "whatsapp": user["phone"]}
    due = None
    if priority != "high":
        due = quiet_hours_end(
            datetime.now(ZoneInfo(user["timezone"])), user["quiet_start"], user["quiet_end"]
        )
    queued = 0
    for channel in EXTERNAL_CHANNELS:
        if channel not in wanted or channel not in available or not address[channel]:
            continue
        try:
            check_template(channel, kind, user["language"])
        except PermanentChannelError:
            continue  # e.g. no DLT-registered SMS template for this kind: never sendable
        made = await conn.fetchval(
            """
            INSERT INTO deliveries (id, outbox_id, notification_id, tenant_id, user_id, channel,
                                    kind, language, recipient, data, status, next_attempt_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', coalesce($11, now()))
            ON CONFLICT (outbox_id, channel) DO NOTHING RETURNING 1
            """,
            uuid.uuid4(),
            outbox_id,
            notification_id,
            tenant_id,
            user_id,
            channel,
            kind,
            user["language"],
            address[channel],
            json.dumps(data),
            due,
        )
        queued += made or 0
    return queued


def quiet_hours_end(now: datetime, start: time | None, end: time | None) -> datetime | None:
    """When the quiet window containing ``now`` (a local, aware time) ends; None outside it.
    A window may wrap midnight (22:00-07:00)."""
    if start is None or end is None or start == end:
        return None
    t = now.timetz().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = now.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return ends if ends > now else ends + timedelta(days=1)


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease_secs: float) -> list[Delivery]:
    """Claim deliveries that are due (queued, failed and due again, or sending with an expired
    lease) for ``lease_secs``; each claim counts as an attempt."""
    rows = await conn.fetch(
        """
        UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1,
               lease_until = now() + make_interval(secs => $2), updated_at = now()
        WHERE d.id IN (
            SELECT id FROM deliveries
            WHERE next_attempt_at <= now()
              AND (status IN ('queued', 'failed') OR (status = 'sending' AND lease_until < now()))
            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING d.*
        """,
        limit,
        lease_secs,
    )
    return [_delivery(r) for r in rows]


async def mark_reserved(conn: asyncpg.Connection, *, delivery: Delivery) -> None:
    await conn.execute(
        "UPDATE deliveries SET credits_reserved = true WHERE id = $1 AND generation = $2",
        delivery.id,
        delivery.generation,
    )


async def finish(
    conn: asyncpg.Connection,
    *,
    delivery: Delivery,
    status: str,
    error: str | None = None,
    provider_message_id: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """Record the outcome of a claimed delivery; False if the claim was lost meanwhile."""
    done = await conn.fetchval(
        """
        UPDATE deliveries SET status = $3, last_error = coalesce($4, last_error),
               provider_message_id = coalesce($5, provider_message_id),
               next_attempt_at = coalesce($6, next_attempt_at), lease_until = NULL,
               sent_at = CASE WHEN $3 = 'sent' THEN now() ELSE sent_at END, updated_at = now()
        WHERE id = $1 AND generation = $2 AND status = 'sending'
          AND attempts = $7
        RETURNING 1
        """,
        delivery.id,
        delivery.generation,
        status,
        error,
        provider_message_id,
        retry_at,
        delivery.attempts,
    )
    return done is not None


async def requeue(
    conn: asyncpg.Connection,
    *,
    ids: list[UUID] | None,
    statuses: Collection[str],
    tenant_id: UUID | None,
) -> list[UUID]:
    """Send again: ``ids`` (or every delivery in ``statuses``, of ``tenant_id`` if given) that
    are dead, failed or skipped start over as a new generation with fresh attempts."""
    rows = await conn.fetch(
        """
        UPDATE deliveries SET status = 'queued', attempts = 0, generation = generation + 1,
               credits_reserved = false, next_attempt_at = now(), lease_until = NULL,
               updated_at = now()
        WHERE status = ANY($2::text[]) AND ($1::uuid[] IS NULL OR id = ANY($1))
          AND ($3::uuid IS NULL OR tenant_id = $3)
        RETURNING id
        """,
        ids,
        list(statuses),
        tenant_id,
    )
    return [r["id"] for r in rows]


async def listing(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID | None,
    status: str | None,
    user_id: UUID | None,
    limit: int,
) -> list[Delivery]:
    rows = await conn.fetch(
        """
        SELECT * FROM deliveries
        WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)
          AND ($3::uuid IS NULL OR user_id = $3)
        ORDER BY created_at DESC LIMIT $4
        """,
        tenant_id,
        status,
        user_id,
        limit,
    )
    return [_delivery(r) for r in rows]


async def get_preferences(conn: asyncpg.Connection, *, user_id: UUID) -> dict[str, Any]:
    rows = await conn.fetch(
        "SELECT type, channels FROM notification_preferences WHERE user_id = $1 ORDER BY type",
        user_id,
    )
    quiet = await conn.fetchrow("SELECT quiet_start, quiet_end FROM users WHERE id = $1", user_id)
    types = {r["type"]: list(r["channels"]) for r in rows}
    return {
        "types": types,
        "default": types.get("*", list(DEFAULT_CHANNELS)),
        "quiet_hours": (
            {
                "start": quiet["quiet_start"].strftime("%H:%M"),
                "end": quiet["quiet_end"].strftime("%H:%M"),
            }
            if quiet and quiet["quiet_start"] and quiet["quiet_end"]
            else None
        ),
    }


async def set_preferences(
    conn: asyncpg.Connection,
    *,
    user_id: UUID,
    tenant_id: UUID | None,
    types: dict[str, list[str]],
    quiet: tuple[time, time] | None,
    clear_quiet: bool,
) -> None:
    """Replace the given types' channels (others stay); set or clear quiet hours."""
    for kind, channels in types.items():
        await conn.execute(
            """
            INSERT INTO notification_preferences (user_id, tenant_id, type, channels)
            VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, type) DO UPDATE SET channels = $4
            """,
            user_id,
            tenant_id,
            kind,
            channels,
        )
    if quiet is not None or clear_quiet:
        await conn.execute(
            "UPDATE users SET quiet_start = $2, quiet_end = $3 WHERE id = $1",
            user_id,
            quiet[0] if quiet else None,
            quiet[1] if quiet else None,
        )


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        channel=row["channel"],
        kind=row["kind"],
        language=row["language"],
        recipient=row["recipient"],
        data=json.loads(row["data"]),
        status=row["status"],
        attempts=row["attempts"],
        generation=row["generation"],
        credits_reserved=row["credits_reserved"],
        last_error=row["last_error"],
        provider_message_id=row["provider_message_id"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )
