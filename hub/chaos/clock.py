"""Scenario 6, ``clock``: time passes while the hub is down.

One ``seva serve`` hub on a Ray head and redis-server, the workload's tenant with a short hold
TTL (``HOLD_TTL_SECS``: seconds standing for the usual ten minutes — the hub has no clock
setting, so the run shortens the durations instead of faking the time). At a seeded moment
the scenario *plants* what the clock must act on — holds left alone and a follow-up reminder
(``POST /api/v1/bookings/{id}/reminders``, ``kind: "follow_up"``) due within the TTL, all
acknowledged — then kills the hub and the Ray head with SIGKILL (the shard actors, which
expire holds, die with it), waits until every planted TTL and due time has passed plus a
seeded margin, and starts both again.

Afterwards each planted hold must be ``expired`` by exactly one ``hold.expired`` audit entry
written after the restart, its places counted back (the slot's counter equals its live
holds); the reminder must be ``sent`` after the restart with exactly one notification and one
outbox event. Anything else counts as lost. The workload runs through it all (its clients
wait for the hub to come back), and the availability subscribers resume by ``since``.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from hub.chaos.client import ChaosClient, Retryable
from hub.chaos.options import ChaosOptions
from hub.chaos.process_env import ProcessEnv, drive_watched, process_environment
from hub.chaos.report import ScenarioResult
from hub.chaos.schedule import ScheduledFault, build_schedule
from hub.chaos.subscribers import WatchedStream, find_chaos_stream
from hub.chaos.workload import PASSWORD
from storage import chaos_clock as clock_db

PLANTED_HOLDS = 3
ANSWER_WITHIN_SECS = 30.0


def hold_ttl_secs(options: ChaosOptions) -> int:
    return 20 if options.long else 4


def schedule_for(options: ChaosOptions) -> list[ScheduledFault]:
    def params(rng: random.Random, _kind: str) -> dict[str, Any]:
        return {"margin_secs": round(rng.uniform(0.5, 2.5), 1)}

    return build_schedule(
        "clock",
        options.seed,
        duration_secs=options.fault_window_secs(4.0),
        kinds=("restart_after_due",),
        # One restart in a small run; a long run restarts every ~minute.
        mean_gap_secs=60.0 if options.long else options.duration_secs,
        start_secs=2.0,
        params=params,
    )


@dataclass
class Planted:
    """What one restart must act on, and what was true when the processes were killed."""

    holds: dict[str, str] = field(default_factory=dict)  # hold id -> slot id
    messages: list[str] = field(default_factory=list)
    latest_due: datetime | None = None
    at_kill: dict[str, str] = field(default_factory=dict)  # hold or message id -> status
    restarted_at: datetime | None = None


async def _answered(send: Any) -> Any:
    """Retry a retryable failure until answered (the hub may be restarting)."""
    deadline = asyncio.get_running_loop().time() + ANSWER_WITHIN_SECS
    while True:
        try:
            return await send()
        except Retryable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def plant(
    env: ProcessEnv, target: WatchedStream, http: aiohttp.ClientSession, rng: random.Random
) -> Planted:
    """One booking with a follow-up due just after the TTL of holds made next and left alone,
    all acknowledged by the hub."""
    planted = Planted()
    conn = await asyncpg.connect(env.dsn)
    try:
        slots = await clock_db.tenant_slot_ids(conn, UUID(target.tenant_id))
    finally:
        await conn.close()
    user = ChaosClient(env.urls, start=0, email=target.emails[-1], password=PASSWORD, http=http)
    admin = ChaosClient(env.urls, start=0, email=target.admin_email, password=PASSWORD, http=http)
    try:
        # The booking first and the holds last, right before the kill: a TTL must not pass
        # while the scenario is still planting.
        booking = await _answered(
            lambda: user.call(
                "hold:create",
                {"slot_id": str(slots[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
            )
        )
        booking_id = str(booking["hold_id"])
        await _answered(lambda: user.call("hold:pay", {"hold_id": booking_id}))
        for _ in range(PLANTED_HOLDS):
            slot = str(rng.choice(slots))
            key = f"clock-{uuid.UUID(int=rng.getrandbits(128)).hex}"
            held = await _answered(
                lambda slot=slot, key=key: user.call(
                    "hold:create", {"slot_id": slot, "qty": 1, "idempotency_key": key}
                )
            )
            planted.holds[str(held["hold_id"])] = slot
            expires = datetime.fromisoformat(held["expires_at"])
            planted.latest_due = max(planted.latest_due or expires, expires)
        assert planted.latest_due is not None
        at = planted.latest_due + timedelta(seconds=0.5)
        plan = await _answered(
            lambda: admin.rest(
                "POST",
                f"/api/v1/bookings/{booking_id}/reminders",
                json={
                    "kind": "follow_up",
                    "title": "How was the abhishekam?",
                    "body": "Tell us about your visit.",
                    "at": at.isoformat(),
                    "idempotency_key": uuid.uuid4().hex,
                },
            )
        )
        planted.messages = [str(r["id"]) for r in plan["reminders"]]
        planted.latest_due = max(planted.latest_due, at)
    finally:
        await user.close()
        await admin.close()
    return planted


async def _statuses(dsn: str, planted: Planted) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        holds = await clock_db.hold_statuses(conn, [UUID(h) for h in planted.holds])
        messages = await clock_db.message_outcomes(conn, [UUID(m) for m in planted.messages])
    finally:
        await conn.close()
    return {**holds, **{m: o["status"] for m, o in messages.items()}}


async def check(dsn: str, plants: list[Planted]) -> tuple[list[str], dict[str, Any]]:
    """(lost lines, details): every planted hold expired once after its restart and counted
    back; every planted message sent once after its restart."""
    lost: list[str] = []
    expired_once = sent_once = 0
    conn = await asyncpg.connect(dsn)
    try:
        for planted in plants:
            assert planted.restarted_at is not None
            hold_ids = [UUID(h) for h in planted.holds]
            statuses = await clock_db.hold_statuses(conn, hold_ids)
            expiries = await clock_db.expiry_times(conn, hold_ids)
            for hold_id in planted.holds:
                times = expiries[hold_id]
                if planted.at_kill.get(hold_id) != "held":
                    lost.append(f"hold {hold_id} was {planted.at_kill.get(hold_id)} at the kill")
                elif statuses.get(hold_id) != "expired" or len(times) != 1:
                    lost.append(
                        f"hold {hold_id} is {statuses.get(hold_id)}, expired {len(times)} times"
                    )
                elif times[0] < planted.restarted_at:
                    lost.append(f"hold {hold_id} expired at {times[0]}, before the restart")
                else:
                    expired_once += 1
            drift = await clock_db.slot_held(conn, [UUID(s) for s in set(planted.holds.values())])
            lost += [
                f"slot {slot} counts {n} held places its live holds do not hold"
                for slot, n in drift.items()
                if n != 0
            ]
            outcomes = await clock_db.message_outcomes(conn, [UUID(m) for m in planted.messages])
            for message_id in planted.messages:
                got = outcomes.get(message_id)
                if planted.at_kill.get(message_id) != "scheduled" or got is None:
                    lost.append(f"reminder {message_id} was {planted.at_kill.get(message_id)}")
                elif (got["status"], got["notifications"], got["outbox"]) != ("sent", 1, 1):
                    lost.append(
                        f"reminder {message_id} is {got['status']} with {got['notifications']} "
                        f"notification(s) and {got['outbox']} outbox event(s)"
                    )
                elif got["sent_at"] < planted.restarted_at:
                    lost.append(
                        f"reminder {message_id} sent at {got['sent_at']}, before the restart"
                    )
                else:
                    sent_once += 1
    finally:
        await conn.close()
    details = {
        "restarts": len(plants),
        "planted_holds": sum(len(p.holds) for p in plants),
        "expired_once_after_restart": expired_once,
        "planted_reminders": sum(len(p.messages) for p in plants),
        "sent_once_after_restart": sent_once,
    }
    return lost, details


async def run_clock(options: ChaosOptions) -> ScenarioResult:
    schedule = schedule_for(options)
    plants: list[Planted] = []
    async with (
        process_environment(options, hubs=("a",)) as env,
        aiohttp.ClientSession() as http,
    ):
        cluster = env.cluster
        rng = random.Random(f"clock-plant:{options.seed}")

        async def inject(fault: ScheduledFault) -> None:
            target = await find_chaos_stream(env.dsn)
            planted = await plant(env, target, http, rng)
            for hub in cluster.hubs.values():
                hub.crash()
            cluster.ray.stop()  # SIGKILL: the shard actors and their timers die too
            planted.at_kill = await _statuses(env.dsn, planted)
            plants.append(planted)
            assert planted.latest_due is not None
            wait = (planted.latest_due - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(max(0.0, wait) + fault.params["margin_secs"])
            planted.restarted_at = datetime.now(UTC)
            await cluster.ray.start()
            await cluster.ensure_hubs()

        result = await drive_watched(
            "clock",
            options,
            env,
            schedule=schedule,
            inject=inject,
            workload_options={"hold_ttl_secs": hold_ttl_secs(options)},
        )
        missed, details = await check(env.dsn, plants) if plants else (["nothing planted"], {})
    for line in missed:
        options.out(f"LOST {line}")
    result.lost += len(missed)
    result.details["clock"] = details
    result.details["lost_ops"] = (result.details.get("lost_ops") or []) + missed[:20]
    return result
