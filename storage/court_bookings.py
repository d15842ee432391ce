"""Court status from bookings, written in the tenant actor's commit (``inventory.commit_changes``).

Whatever path confirms a court's hold (``hold:pay`` from a wallet, a gateway payment, a split,
a group booking) or gives a confirmed one back (cancellation, a move to another slot) passes
through the shard's group commit, so the venue room's ``court`` events are derived there, from
the holds' stored state *before* the batch and their new state, in the same transaction:

- a hold on a court slot becoming ``confirmed`` → ``booked`` (its slot);
- a confirmed one leaving ``confirmed`` (cancelled, released, expired) or moving to another
  slot → ``free`` (the old slot), then ``booked`` for the new one.

A batch applied twice (a stale twin of a restarted shard) is refused by the slot versions and
rolls back with its events; a hold whose status did not change yields no event, so a re-sent
command writes nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from storage.feeds import FEED_CHANNEL
from storage.records import HoldState
from storage.venues import venue_stream

COURT_EVENT = "court"


@dataclass(frozen=True)
class CourtMove:
    tenant_id: UUID
    court_id: UUID
    slot_id: UUID
    status: str  # "booked" | "free"
    at: datetime


async def moves_before_commit(
    conn: asyncpg.Connection,
    *,
    new_holds: Sequence[HoldState],
    changed_holds: Sequence[HoldState],
) -> list[CourtMove]:
    """The court status changes the batch's holds make; call before ``changed_holds`` are
    written (it reads their stored status and slot). Holds of other kinds of resources give
    none."""
    fresh = {h.hold_id for h in new_holds}
    candidates = [h for h in (*new_holds, *changed_holds) if h.status != "held"]
    if not candidates:
        return []
    rows = await conn.fetch(
        """
        SELECT u.i, h.status AS old_status, h.slot_id AS old_slot,
               (SELECT r.id FROM slots s JOIN resources r
                  ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
                WHERE s.id = h.slot_id AND r.kind = 'court') AS old_court,
               (SELECT r.id FROM slots s JOIN resources r
                  ON r.tenant_id = s.tenant_id AND r.id = s.resource_id
                WHERE s.id = u.slot_id AND r.kind = 'court') AS new_court
        FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS u(id, slot_id, i)
        LEFT JOIN holds h ON h.id = u.id
        ORDER BY u.i
        """,
        [h.hold_id for h in candidates],
        [h.slot_id for h in candidates],
    )
    moves: list[CourtMove] = []
    for row in rows:
        hold = candidates[row["i"] - 1]
        was = (
            hold.hold_id not in fresh
            and row["old_status"] == "confirmed"
            and row["old_court"] is not None
        )
        now = hold.status == "confirmed" and row["new_court"] is not None
        same_slot = row["old_slot"] == hold.slot_id
        if was and not (now and same_slot):
            moves.append(
                CourtMove(
                    hold.tenant_id, row["old_court"], row["old_slot"], "free", hold.updated_at
                )
            )
        if now and not (was and same_slot):
            moves.append(
                CourtMove(hold.tenant_id, row["new_court"], hold.slot_id, "booked", hold.updated_at)
            )
    return moves


async def record(conn: asyncpg.Connection, *, moves: Sequence[CourtMove]) -> None:
    """Store the courts' status and their ``court`` events (set-based, in the caller's
    transaction); the feed relay publishes the events after commit."""
    if not moves:
        return
    # court_status keeps one row per court: its last move in this batch. ``free`` only
    # overwrites the booking that set ``booked`` (staff's in_play / maintenance, or another
    # slot's booking, stay).
    last: dict[tuple[UUID, UUID], CourtMove] = {}
    for move in moves:
        last[(move.tenant_id, move.court_id)] = move
    booked = [m for m in last.values() if m.status == "booked"]
    freed = [m for m in last.values() if m.status == "free"]
    if booked:
        await conn.execute(
            """
            INSERT INTO court_status (tenant_id, resource_id, status, slot_id, by_user_id,
                                      updated_at)
            SELECT t, c, 'booked', s, NULL, a
            FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[]) AS u(t, c, s, a)
            ON CONFLICT (tenant_id, resource_id) DO UPDATE SET status = 'booked',
                slot_id = excluded.slot_id, by_user_id = NULL, updated_at = excluded.updated_at
            """,
            *_columns(booked),
        )
    if freed:
        await conn.execute(
            """
            UPDATE court_status AS c SET status = 'free', by_user_id = NULL, updated_at = u.a
            FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[]) AS u(t, r, s, a)
            WHERE c.tenant_id = u.t AND c.resource_id = u.r AND c.slot_id = u.s
              AND c.status = 'booked'
            """,
            *_columns(freed),
        )
    await _append_events(conn, moves)


async def _append_events(conn: asyncpg.Connection, moves: Sequence[CourtMove]) -> None:
    """Each move's ``court`` event with the next seqs of its venue stream: the heads are
    advanced once per stream (locked until commit, in stream order), then every event is
    inserted in one statement."""
    counts: dict[str, tuple[UUID, int]] = {}
    for move in moves:
        stream = venue_stream(move.tenant_id)
        counts[stream] = (move.tenant_id, counts.get(stream, (move.tenant_id, 0))[1] + 1)
    streams = sorted(counts)
    heads = await conn.fetch(
        """
        INSERT INTO feed_heads AS h (stream, tenant_id, seq)
        SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[])
        ON CONFLICT (stream) DO UPDATE SET seq = h.seq + excluded.seq
        RETURNING stream, seq
        """,
        streams,
        [counts[s][0] for s in streams],
        [counts[s][1] for s in streams],
    )
    next_seq = {r["stream"]: r["seq"] - counts[r["stream"]][1] + 1 for r in heads}
    rows: list[tuple[str, int, UUID, str]] = []
    for move in moves:
        stream = venue_stream(move.tenant_id)
        seq = next_seq[stream]
        next_seq[stream] = seq + 1
        body = {
            "court_id": str(move.court_id),
            "slot_id": str(move.slot_id),
            "status": move.status,
            "at": move.at.isoformat(),
            "stream": stream,
            "seq": seq,
        }
        rows.append((stream, seq, move.tenant_id, json.dumps(body)))
    await conn.execute(
        """
        INSERT INTO feed_events (stream, seq, tenant_id, room, event, payload)
        SELECT s, q, t, s, $5, p
        FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::jsonb[]) AS u(s, q, t, p)
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        COURT_EVENT,
    )
    await conn.execute("SELECT pg_notify($1, '')", FEED_CHANNEL)


def _columns(moves: Sequence[CourtMove]) -> list[list[object]]:
    return [
        [m.tenant_id for m in moves],
        [m.court_id for m in moves],
        [m.slot_id for m in moves],
        [m.at for m in moves],
    ]
