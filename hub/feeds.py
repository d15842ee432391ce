"""Catching a socket up on a feed stream (its user's own feed, a booking's live status).

A client keeps the last ``seq`` it applied per stream. After a reconnect it asks again with
``since``: the missed events are emitted to that socket, in order, before the ack, and the ack
says ``mode: "replay"`` with the count. If any of them is no longer kept (older than the
retention) or ``since`` is not a seq this stream ever had, the ack says ``mode: "reset"`` and
carries a fresh snapshot whose ``seq`` was read in the same database snapshot. Live events may
interleave with a replay: clients apply events in seq order and drop any seq they have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import socketio

from storage import feeds

SnapshotReader = Callable[[asyncpg.Connection], Awaitable[dict[str, Any]]]


async def catch_up(
    db: asyncpg.Pool,
    sio: socketio.AsyncServer,
    *,
    sid: str,
    stream: str,
    since: int | None,
    snapshot: SnapshotReader,
) -> dict[str, Any]:
    """Replay ``stream`` after ``since`` to ``sid``, or answer with a reset snapshot.

    ``since=None`` is a first subscription: the ack carries the snapshot (``mode: "snapshot"``).
    """
    async with db.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        seq = await feeds.head(conn, stream=stream)
        missed = None
        if since is not None and since <= seq:
            missed = await feeds.read_since(conn, stream=stream, after_seq=since, upto_seq=seq)
        state = None if missed is not None else await snapshot(conn)
    if missed is None:
        mode = "snapshot" if since is None else "reset"
        return {"stream": stream, "seq": seq, "mode": mode, "replayed": 0, "snapshot": state}
    for event in missed:
        # Local on purpose: this socket is on this hub, and its ack must come after the replay.
        await sio.emit(event.event, event.payload, to=sid, ignore_queue=True)
    return {"stream": stream, "seq": seq, "mode": "replay", "replayed": len(missed)}
