"""SQL of the chaos ``clock`` scenario: what became of holds and scheduled messages whose time
came while the hub was down (each expired or sent exactly once, and when)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def hold_statuses(conn: asyncpg.Connection, hold_ids: list[UUID]) -> dict[str, str]:
    rows = await conn.fetch("SELECT id, status FROM holds WHERE id = ANY($1::uuid[])", hold_ids)
    return {str(r["id"]): r["status"] for r in rows}


async def expiry_times(conn: asyncpg.Connection, hold_ids: list[UUID]) -> dict[str, list[datetime]]:
    """Per hold, when each ``hold.expired`` audit row was written (one expected)."""
    rows = await conn.fetch(
        "SELECT subject_id, at FROM audit_log WHERE action = 'hold.expired' "
        "AND subject_id = ANY($1::uuid[]) ORDER BY at",
        hold_ids,
    )
    found: dict[str, list[datetime]] = {str(h): [] for h in hold_ids}
    for row in rows:
        found[str(row["subject_id"])].append(row["at"])
    return found


async def slot_held(conn: asyncpg.Connection, slot_ids: list[UUID]) -> dict[str, int]:
    """Each slot's counter of held places and the places its live holds really hold."""
    rows = await conn.fetch(
        """
        SELECT s.id, s.held_qty,
               coalesce((SELECT sum(h.qty) FROM holds h
                         WHERE h.slot_id = s.id AND h.status = 'held'), 0) AS live
        FROM slots s WHERE s.id = ANY($1::uuid[])
        """,
        slot_ids,
    )
    return {str(r["id"]): int(r["held_qty"]) - int(r["live"]) for r in rows}


async def message_outcomes(
    conn: asyncpg.Connection, message_ids: list[UUID]
) -> dict[str, dict[str, Any]]:
    """Per scheduled message: its status, ``sent_at``, how many notifications and outbox events
    it made (one each expected once sent)."""
    rows = await conn.fetch(
        """
        SELECT m.id, m.status, m.sent_at, m.due_at,
               (SELECT count(*) FROM notifications n
                WHERE n.data ->> 'scheduled_message_id' = m.id::text) AS notifications,
               (SELECT count(*) FROM outbox_events o
                WHERE o.dedupe_key = 'scheduled_message:' || m.id::text) AS outbox
        FROM scheduled_messages m WHERE m.id = ANY($1::uuid[])
        """,
        message_ids,
    )
    return {
        str(r["id"]): {
            "status": r["status"],
            "sent_at": r["sent_at"],
            "due_at": r["due_at"],
            "notifications": int(r["notifications"]),
            "outbox": int(r["outbox"]),
        }
        for r in rows
    }


async def tenant_slot_ids(conn: asyncpg.Connection, tenant_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT id FROM slots WHERE tenant_id = $1 ORDER BY starts_at, id", tenant_id
    )
    return [r["id"] for r in rows]
