"""Rows owned by the tenant inventory actors: slots' counters, holds, availability events.

Reads load what a logical actor needs; :func:`commit_changes` writes one batch of changes in the
caller's transaction, fenced by slot versions (a stale writer gets :class:`StaleState`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from protocols.availability import stream_name
from protocols.holds import HoldStatus
from storage import court_bookings, meetings, notifications, reminders
from storage.records import (
    DEFAULT_HOLD_TTL_SECS,
    AuditEntry,
    AvailabilityEvent,
    HoldState,
    Reschedule,
    SlotState,
    TenantPolicy,
)

AVAILABILITY_CHANNEL = "seva_availability"


class StaleState(RuntimeError):
    """A row changed under us: another writer (e.g. a zombie actor) got there first."""


async def load_tenant_policy(conn: asyncpg.Connection, *, tenant_id: UUID) -> TenantPolicy | None:
    """Hold TTL, timezone and booking limit of the tenant; None if there is no such tenant."""
    row = await conn.fetchrow(
        """
        SELECT t.settings, t.timezone, t.plan ->> 'max_monthly_bookings' AS monthly_limit,
               (SELECT count(*) FROM holds h
                WHERE h.tenant_id = t.id AND h.status IN ('held', 'confirmed')
                  AND h.created_at >= date_trunc('month', now() AT TIME ZONE t.timezone)
                                      AT TIME ZONE t.timezone) AS this_month
        FROM tenants t WHERE t.id = $1
        """,
        tenant_id,
    )
    if row is None:
        return None
    settings = json.loads(row["settings"]) if isinstance(row["settings"], str) else row["settings"]
    limit = row["monthly_limit"]
    return TenantPolicy(
        hold_ttl_secs=int(settings.get("hold_ttl_secs", DEFAULT_HOLD_TTL_SECS)),
        timezone=row["timezone"],
        max_monthly_bookings=int(limit) if limit is not None else None,
        bookings_this_month=row["this_month"],
    )


async def load_slots(
    conn: asyncpg.Connection, *, tenant_id: UUID, slot_ids: Sequence[UUID]
) -> list[SlotState]:
    rows = await conn.fetch(
        """
        SELECT s.id, s.resource_id, s.local_date, s.starts_at, s.capacity, s.held_qty,
               s.confirmed_qty, s.version, r.status = 'active' AS bookable
        FROM slots s JOIN resources r ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
        WHERE s.tenant_id = $1 AND s.id = ANY($2::uuid[])
        """,
        tenant_id,
        list(slot_ids),
    )
    return [
        SlotState(
            slot_id=r["id"],
            tenant_id=tenant_id,
            resource_id=r["resource_id"],
            stream=stream_name(tenant_id, r["resource_id"], r["local_date"]),
            starts_at=r["starts_at"],
            capacity=r["capacity"],
            held_qty=r["held_qty"],
            confirmed_qty=r["confirmed_qty"],
            version=r["version"],
            bookable=r["bookable"],
        )
        for r in rows
    ]


_HOLD_COLUMNS = (
    "id, tenant_id, slot_id, user_id, qty, status, idempotency_key, expires_at, created_at, "
    "updated_at, extras"
)


def _hold(row: asyncpg.Record) -> HoldState:
    return HoldState(
        hold_id=row["id"],
        tenant_id=row["tenant_id"],
        slot_id=row["slot_id"],
        user_id=row["user_id"],
        qty=row["qty"],
        status=HoldStatus(row["status"]),
        idempotency_key=row["idempotency_key"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        extras=json.loads(row["extras"]) if isinstance(row["extras"], str) else row["extras"],
    )


async def load_active_holds(
    conn: asyncpg.Connection, *, tenant_id: UUID, slot_ids: Sequence[UUID]
) -> list[HoldState]:
    rows = await conn.fetch(
        f"SELECT {_HOLD_COLUMNS} FROM holds "
        "WHERE tenant_id = $1 AND slot_id = ANY($2::uuid[]) AND status = 'held'",
        tenant_id,
        list(slot_ids),
    )
    return [_hold(r) for r in rows]


async def load_holds(
    conn: asyncpg.Connection, *, tenant_id: UUID, hold_ids: Sequence[UUID]
) -> list[HoldState]:
    rows = await conn.fetch(
        f"SELECT {_HOLD_COLUMNS} FROM holds WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
        tenant_id,
        list(hold_ids),
    )
    return [_hold(r) for r in rows]


async def find_holds_by_key(
    conn: asyncpg.Connection, *, tenant_id: UUID, keys: Sequence[tuple[UUID, str]]
) -> dict[tuple[UUID, str], HoldState]:
    """Holds already made with these (user_id, idempotency_key) pairs."""
    rows = await conn.fetch(
        f"SELECT {_HOLD_COLUMNS} FROM holds "
        "WHERE tenant_id = $1 AND (user_id, idempotency_key) IN "
        "(SELECT * FROM unnest($2::uuid[], $3::text[]))",
        tenant_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["user_id"], r["idempotency_key"]): _hold(r) for r in rows}


async def find_reschedules(
    conn: asyncpg.Connection, *, tenant_id: UUID, keys: Sequence[tuple[UUID, str]]
) -> dict[tuple[UUID, str], Reschedule]:
    """Moves already made with these (hold_id, idempotency_key) pairs."""
    rows = await conn.fetch(
        """
        SELECT r.hold_id, r.idempotency_key, r.from_slot_id, r.to_slot_id, r.user_id,
               r.by_user_id, r.created_at, h.qty
        FROM booking_reschedules r JOIN holds h ON h.id = r.hold_id
        WHERE r.tenant_id = $1 AND (r.hold_id, r.idempotency_key) IN
              (SELECT * FROM unnest($2::uuid[], $3::text[]))
        """,
        tenant_id,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {
        (r["hold_id"], r["idempotency_key"]): Reschedule(
            hold_id=r["hold_id"],
            tenant_id=tenant_id,
            idempotency_key=r["idempotency_key"],
            from_slot_id=r["from_slot_id"],
            to_slot_id=r["to_slot_id"],
            user_id=r["user_id"],
            by_user_id=r["by_user_id"],
            qty=r["qty"],
            at=r["created_at"],
        )
        for r in rows
    }


async def last_seqs(conn: asyncpg.Connection, *, streams: Iterable[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT stream, max(seq) AS seq FROM availability_events "
        "WHERE stream = ANY($1::text[]) GROUP BY stream",
        list(streams),
    )
    return {r["stream"]: r["seq"] for r in rows}


async def tenants_with_live_holds(conn: asyncpg.Connection) -> list[UUID]:
    rows = await conn.fetch("SELECT DISTINCT tenant_id FROM holds WHERE status = 'held'")
    return [r["tenant_id"] for r in rows]


async def slot_ids_with_live_holds(conn: asyncpg.Connection, *, tenant_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT DISTINCT slot_id FROM holds WHERE tenant_id = $1 AND status = 'held'", tenant_id
    )
    return [r["slot_id"] for r in rows]


async def commit_changes(
    conn: asyncpg.Connection,
    *,
    new_holds: Sequence[HoldState],
    changed_holds: Sequence[HoldState],
    slots: Sequence[SlotState],
    events: Sequence[AvailabilityEvent],
    audits: Sequence[AuditEntry],
    reschedules: Sequence[Reschedule] = (),
) -> None:
    """Write one batch of changes. Must run inside a transaction the caller commits.

    Slot rows are updated only if their version is the one the actor loaded; otherwise
    StaleState is raised and the caller must roll back and reload. Events are announced with
    NOTIFY, which PostgreSQL delivers only after commit and in commit order. Newly confirmed
    bookings get their reminders planned; moved bookings (``reschedules``) are recorded, their
    slot reminders re-planned and their owners notified, all in the same transaction.
    """
    if new_holds:
        try:
            await conn.execute(
                """
                INSERT INTO holds (id, tenant_id, slot_id, user_id, qty, status, idempotency_key,
                                   expires_at, created_at, updated_at, extras)
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[],
                                     $6::text[], $7::text[], $8::timestamptz[],
                                     $9::timestamptz[], $10::timestamptz[], $11::jsonb[])
                """,
                *_columns(
                    new_holds,
                    "hold_id tenant_id slot_id user_id qty status idempotency_key expires_at "
                    "created_at updated_at",
                ),
                [None if h.extras is None else json.dumps(h.extras) for h in new_holds],
            )
        except asyncpg.ForeignKeyViolationError as exc:
            if "slot_id" not in (exc.constraint_name or ""):
                raise
            # The slot was deleted (an admin removed its resource) after the actor loaded it.
            raise StaleState("a slot no longer exists") from exc
    # Read before the holds are written: court status follows their old and new state.
    court_moves = await court_bookings.moves_before_commit(
        conn, new_holds=new_holds, changed_holds=changed_holds
    )
    if changed_holds:
        await conn.execute(
            """
            UPDATE holds AS h
            SET status = u.status, updated_at = u.updated_at, slot_id = u.slot_id
            FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[])
                 AS u(id, status, updated_at, slot_id)
            WHERE h.id = u.id
            """,
            *_columns(changed_holds, "hold_id status updated_at slot_id"),
        )
    if slots:
        updated = await conn.fetchval(
            """
            WITH u AS (
                UPDATE slots AS s
                SET held_qty = u.held_qty, confirmed_qty = u.confirmed_qty,
                    capacity = u.capacity, version = s.version + 1
                FROM unnest($1::uuid[], $2::int[], $3::int[], $4::bigint[], $5::int[])
                     AS u(id, held_qty, confirmed_qty, version, capacity)
                WHERE s.id = u.id AND s.version = u.version
                RETURNING 1
            ) SELECT count(*) FROM u
            """,
            *_columns(slots, "slot_id held_qty confirmed_qty version capacity"),
        )
        if updated != len(slots):
            raise StaleState(f"{len(slots) - updated} slot(s) changed under this actor")
    if events:
        payloads = [json.dumps(e.payload(), separators=(",", ":")) for e in events]
        await conn.execute(
            """
            INSERT INTO availability_events (stream, seq, tenant_id, payload)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::jsonb[])
            """,
            [e.stream for e in events],
            [e.seq for e in events],
            [e.tenant_id for e in events],
            payloads,
        )
        await conn.execute(
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i",
            AVAILABILITY_CHANNEL,
            payloads,
        )
    await court_bookings.record(conn, moves=court_moves)
    confirmed = [h for h in (*new_holds, *changed_holds) if h.status == "confirmed"]
    if confirmed:
        # Consultation rooms first: their booking_confirmed carries the meeting url.
        await meetings.create_for_confirmed(conn, hold_ids=[h.hold_id for h in confirmed])
        await notifications.enqueue_confirmations(
            conn,
            tenant_ids=[h.tenant_id for h in confirmed],
            user_ids=[h.user_id for h in confirmed],
            hold_ids=[h.hold_id for h in confirmed],
            slot_ids=[h.slot_id for h in confirmed],
        )
        moved = {r.hold_id for r in reschedules}  # re-planned below, for their new slot
        newly = [h.hold_id for h in confirmed if h.hold_id not in moved]
        if newly:
            await reminders.plan_booking_reminders(
                conn, hold_ids=newly, plans=["confirmed"] * len(newly)
            )
    if reschedules:
        await _record_reschedules(conn, reschedules)
    if audits:
        await conn.execute(
            """
            INSERT INTO audit_log (tenant_id, actor_user_id, action, subject_id, data)
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::jsonb[])
            """,
            *_columns(audits, "tenant_id actor_user_id action subject_id"),
            [json.dumps(a.data) for a in audits],
        )


async def _record_reschedules(conn: asyncpg.Connection, moves: Sequence[Reschedule]) -> None:
    await conn.execute(
        """
        INSERT INTO booking_reschedules (hold_id, tenant_id, idempotency_key, from_slot_id,
                                         to_slot_id, user_id, by_user_id, created_at)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[],
                             $6::uuid[], $7::uuid[], $8::timestamptz[])
        """,
        *_columns(
            moves,
            "hold_id tenant_id idempotency_key from_slot_id to_slot_id user_id by_user_id at",
        ),
    )
    last_key = {m.hold_id: m.idempotency_key for m in moves}  # a booking moved twice: last
    await reminders.replan_after_reschedule(
        conn, hold_ids=list(last_key), keys=list(last_key.values())
    )
    for move in moves:
        await notifications.enqueue(
            conn,
            tenant_id=move.tenant_id,
            user_id=move.user_id,
            kind="booking_rescheduled",
            data={
                "booking_id": str(move.hold_id),
                "from_slot_id": str(move.from_slot_id),
                "slot_id": str(move.to_slot_id),
            },
            dedupe_key=f"booking_rescheduled:{move.hold_id}:{move.idempotency_key}",
        )


def _columns(items: Sequence[Any], names: str) -> list[list[Any]]:
    return [[getattr(item, name) for item in items] for name in names.split()]
