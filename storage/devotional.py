"""SQL of the devotional platform: linked hold groups, the pandit's view of assigned bookings,
the platform's commission per tenant, and pandits' earnings rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

# Completed bookings older than this are not looked at again by the earnings loop (it runs
# every few seconds in every hub, so anything completed is credited long before).
EARNINGS_LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class SlotFacts:
    slot_id: UUID
    resource_id: UUID
    kind: str
    booking_fields: dict[str, Any] | None
    local_date: date
    starts_at: datetime
    price_paise: int


async def slot_facts(
    conn: asyncpg.Connection, *, tenant_id: UUID, slot_id: UUID
) -> SlotFacts | None:
    row = await conn.fetchrow(
        "SELECT s.id, s.resource_id, r.kind, r.booking_fields, s.local_date, s.starts_at, "
        "s.price_paise FROM slots s JOIN resources r ON r.tenant_id = s.tenant_id "
        "AND r.id = s.resource_id WHERE s.tenant_id = $1 AND s.id = $2",
        tenant_id,
        slot_id,
    )
    return None if row is None else _facts(row)


async def day_slot(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID, day: date
) -> SlotFacts | None:
    """The resource's first slot on ``day`` (the tenant's calendar): a chadhava's stock of the
    day, or one day of a yatra."""
    row = await conn.fetchrow(
        "SELECT s.id, s.resource_id, r.kind, r.booking_fields, s.local_date, s.starts_at, "
        "s.price_paise FROM slots s JOIN resources r ON r.tenant_id = s.tenant_id "
        "AND r.id = s.resource_id WHERE s.tenant_id = $1 AND s.resource_id = $2 "
        "AND s.local_date = $3 ORDER BY s.starts_at LIMIT 1",
        tenant_id,
        resource_id,
        day,
    )
    return None if row is None else _facts(row)


async def resource_kind(
    conn: asyncpg.Connection, *, tenant_id: UUID, resource_id: UUID
) -> str | None:
    kind: str | None = await conn.fetchval(
        "SELECT kind FROM resources WHERE tenant_id = $1 AND id = $2", tenant_id, resource_id
    )
    return kind


def _facts(row: asyncpg.Record) -> SlotFacts:
    fields = row["booking_fields"]
    return SlotFacts(
        slot_id=row["id"],
        resource_id=row["resource_id"],
        kind=row["kind"],
        booking_fields=json.loads(fields) if isinstance(fields, str) else fields,
        local_date=row["local_date"],
        starts_at=row["starts_at"],
        price_paise=row["price_paise"],
    )


# -- hold groups -------------------------------------------------------------------------------


async def claim_group(
    conn: asyncpg.Connection,
    *,
    group_id: UUID,
    tenant_id: UUID,
    user_id: UUID,
    kind: str,
    idempotency_key: str,
    request: dict[str, Any],
) -> tuple[UUID, dict[str, Any], bool]:
    """``(group_id, request, created)``: the group made now, or the one made earlier with the
    key (with the request it was made for)."""
    made = await conn.fetchval(
        "INSERT INTO hold_groups (id, tenant_id, user_id, kind, idempotency_key, request) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING RETURNING id",
        group_id,
        tenant_id,
        user_id,
        kind,
        idempotency_key,
        json.dumps(request),
    )
    if made is not None:
        return made, request, True
    row = await conn.fetchrow(
        "SELECT id, request FROM hold_groups WHERE tenant_id = $1 AND user_id = $2 "
        "AND idempotency_key = $3",
        tenant_id,
        user_id,
        idempotency_key,
    )
    return row["id"], json.loads(row["request"]), False


async def drop_group(conn: asyncpg.Connection, *, tenant_id: UUID, group_id: UUID) -> None:
    """Forget a group none of whose holds stood (a refused booking): the key may be reused."""
    await conn.execute(
        "DELETE FROM hold_groups g WHERE tenant_id = $1 AND id = $2 "
        "AND NOT EXISTS (SELECT 1 FROM hold_group_items i WHERE i.group_id = g.id)",
        tenant_id,
        group_id,
    )


async def add_items(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    group_id: UUID,
    items: list[tuple[int, UUID, str]],
) -> None:
    """``items``: ``(position, hold_id, role)``; adding them again changes nothing."""
    await conn.executemany(
        "INSERT INTO hold_group_items (group_id, tenant_id, position, hold_id, role) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [(group_id, tenant_id, pos, hold_id, role) for pos, hold_id, role in items],
    )


async def group_view(
    conn: asyncpg.Connection, *, tenant_id: UUID, group_id: UUID
) -> dict[str, Any] | None:
    head = await conn.fetchrow(
        "SELECT id, user_id, kind, idempotency_key, created_at FROM hold_groups "
        "WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        group_id,
    )
    if head is None:
        return None
    rows = await conn.fetch(
        "SELECT i.position, i.role, h.id, h.slot_id, h.qty, h.status, h.expires_at, h.extras, "
        "s.resource_id, s.starts_at, s.local_date, s.price_paise, r.name, r.kind "
        "FROM hold_group_items i JOIN holds h ON h.id = i.hold_id "
        "JOIN slots s ON s.id = h.slot_id JOIN resources r ON r.id = s.resource_id "
        "WHERE i.tenant_id = $1 AND i.group_id = $2 ORDER BY i.position",
        tenant_id,
        group_id,
    )
    holds = [
        {
            "hold_id": str(r["id"]),
            "role": r["role"],
            "slot_id": str(r["slot_id"]),
            "resource_id": str(r["resource_id"]),
            "resource_name": r["name"],
            "kind": r["kind"],
            "date": r["local_date"].isoformat(),
            "starts_at": r["starts_at"].isoformat(),
            "qty": r["qty"],
            "status": r["status"],
            "expires_at": r["expires_at"].isoformat(),
            "amount_paise": r["price_paise"] * r["qty"],
        }
        for r in rows
    ]
    statuses = {h["status"] for h in holds}
    return {
        "group_id": str(head["id"]),
        "kind": head["kind"],
        "user_id": str(head["user_id"]),
        "idempotency_key": head["idempotency_key"],
        "created_at": head["created_at"].isoformat(),
        "booking_id": holds[0]["hold_id"] if holds else None,
        "status": statuses.pop() if len(statuses) == 1 else "mixed",
        "amount_paise": sum(h["amount_paise"] for h in holds),
        "holds": holds,
    }


async def group_owner(conn: asyncpg.Connection, *, tenant_id: UUID, group_id: UUID) -> UUID | None:
    owner: UUID | None = await conn.fetchval(
        "SELECT user_id FROM hold_groups WHERE tenant_id = $1 AND id = $2", tenant_id, group_id
    )
    return owner


async def tenant_of_group(conn: asyncpg.Connection, *, group_id: UUID) -> UUID | None:
    tenant: UUID | None = await conn.fetchval(
        "SELECT tenant_id FROM hold_groups WHERE id = $1", group_id
    )
    return tenant


# -- the pandit's view -------------------------------------------------------------------------


async def assigned_bookings(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    staff_user_id: UUID | None,
    from_day: date | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Confirmed bookings (of ``staff_user_id``, or every assigned one), soonest first, with
    their sankalp details and the chadhava offerings booked with them."""
    rows = await conn.fetch(
        "SELECT h.id, h.user_id, u.name AS devotee_name, h.qty, h.extras, h.live_status, "
        "h.assigned_staff_id, s.id AS slot_id, s.starts_at, s.ends_at, s.local_date, "
        "s.resource_id, r.name AS resource_name, r.kind, i.group_id "
        "FROM holds h JOIN slots s ON s.id = h.slot_id "
        "JOIN resources r ON r.id = s.resource_id JOIN users u ON u.id = h.user_id "
        "LEFT JOIN hold_group_items i ON i.hold_id = h.id "
        "WHERE h.tenant_id = $1 AND h.status = 'confirmed' "
        "AND h.assigned_staff_id IS NOT NULL "
        "AND ($2::uuid IS NULL OR h.assigned_staff_id = $2) "
        "AND ($3::date IS NULL OR s.local_date >= $3) "
        "ORDER BY s.starts_at, h.id LIMIT $4",
        tenant_id,
        staff_user_id,
        from_day,
        limit,
    )
    groups = [r["group_id"] for r in rows if r["group_id"] is not None]
    offerings: dict[UUID, list[dict[str, Any]]] = {}
    if groups:
        for o in await conn.fetch(
            "SELECT i.group_id, s.resource_id, r.name, h.qty, h.status "
            "FROM hold_group_items i JOIN holds h ON h.id = i.hold_id "
            "JOIN slots s ON s.id = h.slot_id JOIN resources r ON r.id = s.resource_id "
            "WHERE i.tenant_id = $1 AND i.group_id = ANY($2::uuid[]) AND i.role = 'offering' "
            "ORDER BY i.group_id, i.position",
            tenant_id,
            groups,
        ):
            offerings.setdefault(o["group_id"], []).append(
                {
                    "resource_id": str(o["resource_id"]),
                    "name": o["name"],
                    "qty": o["qty"],
                    "status": o["status"],
                }
            )
    out = []
    for r in rows:
        extras = r["extras"]
        extras = json.loads(extras) if isinstance(extras, str) else (extras or {})
        out.append(
            {
                "booking_id": str(r["id"]),
                "resource_id": str(r["resource_id"]),
                "resource_name": r["resource_name"],
                "kind": r["kind"],
                "slot_id": str(r["slot_id"]),
                "date": r["local_date"].isoformat(),
                "starts_at": r["starts_at"].isoformat(),
                "ends_at": r["ends_at"].isoformat(),
                "qty": r["qty"],
                "devotee_user_id": str(r["user_id"]),
                "devotee_name": r["devotee_name"],
                "participants": extras.get("participants", []),
                "special_requests": extras.get("special_requests"),
                "offerings": offerings.get(r["group_id"], []) if r["group_id"] else [],
                "assigned_staff_id": str(r["assigned_staff_id"]),
                "live_status": r["live_status"],
            }
        )
    return out


async def is_staff(conn: asyncpg.Connection, *, tenant_id: UUID, user_id: UUID) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2 "
        "AND role IN ('staff', 'tenant_admin')",
        tenant_id,
        user_id,
    )
    return found is not None


# -- commission and earnings -------------------------------------------------------------------


async def commission_bp(conn: asyncpg.Connection, *, tenant_id: UUID) -> int | None:
    """The tenant's own commission, None for the platform default."""
    bp: int | None = await conn.fetchval(
        "SELECT commission_bp FROM devotional_settings WHERE tenant_id = $1", tenant_id
    )
    return bp


async def set_commission_bp(conn: asyncpg.Connection, *, tenant_id: UUID, bp: int) -> bool:
    """False (nothing written) for an unknown tenant."""
    done = await conn.fetchval(
        "INSERT INTO devotional_settings (tenant_id, commission_bp) "
        "SELECT id, $2 FROM tenants WHERE id = $1 "
        "ON CONFLICT (tenant_id) DO UPDATE SET commission_bp = $2, updated_at = now() "
        "RETURNING tenant_id",
        tenant_id,
        bp,
    )
    return done is not None


@dataclass(frozen=True)
class Completed:
    booking_id: UUID
    tenant_id: UUID
    staff_user_id: UUID
    gross_paise: int
    commission_bp: int | None  # the tenant's own; None: the default


async def completed_without_earnings(conn: asyncpg.Connection, *, limit: int) -> list[Completed]:
    """Completed, assigned bookings of every tenant that have no earnings row yet."""
    rows = await conn.fetch(
        "SELECT h.id, h.tenant_id, h.assigned_staff_id, s.price_paise * h.qty AS gross, "
        "d.commission_bp FROM holds h JOIN slots s ON s.id = h.slot_id "
        "LEFT JOIN devotional_settings d ON d.tenant_id = h.tenant_id "
        "WHERE h.live_status = 'completed' AND h.assigned_staff_id IS NOT NULL "
        "AND h.live_status_at > now() - make_interval(days => $2) "
        "AND NOT EXISTS (SELECT 1 FROM pandit_earnings e WHERE e.booking_id = h.id) "
        "ORDER BY h.live_status_at LIMIT $1",
        limit,
        EARNINGS_LOOKBACK_DAYS,
    )
    return [
        Completed(r["id"], r["tenant_id"], r["assigned_staff_id"], r["gross"], r["commission_bp"])
        for r in rows
    ]


async def plan_earning(
    conn: asyncpg.Connection,
    *,
    booking: Completed,
    commission_bp: int,
    commission_paise: int,
    net_paise: int,
) -> None:
    """Decide the amounts once; a second planner's row is ignored."""
    await conn.execute(
        "INSERT INTO pandit_earnings (booking_id, tenant_id, staff_user_id, gross_paise, "
        "commission_bp, commission_paise, net_paise, transfer_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (booking_id) DO NOTHING",
        booking.booking_id,
        booking.tenant_id,
        booking.staff_user_id,
        booking.gross_paise,
        commission_bp,
        commission_paise,
        net_paise,
        f"earnings:{booking.booking_id}",
    )


async def unposted_earnings(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT booking_id, tenant_id, staff_user_id, gross_paise, commission_bp, "
            "commission_paise, net_paise, transfer_id FROM pandit_earnings "
            "WHERE posted_at IS NULL ORDER BY created_at LIMIT $1",
            limit,
        )
    )


async def mark_posted(conn: asyncpg.Connection, *, booking_id: UUID) -> None:
    await conn.execute(
        "UPDATE pandit_earnings SET posted_at = now() WHERE booking_id = $1 AND posted_at IS NULL",
        booking_id,
    )


async def earnings_of(
    conn: asyncpg.Connection, *, tenant_id: UUID, staff_user_id: UUID, limit: int
) -> dict[str, Any]:
    rows = await conn.fetch(
        "SELECT booking_id, gross_paise, commission_bp, commission_paise, net_paise, "
        "transfer_id, created_at, posted_at FROM pandit_earnings "
        "WHERE tenant_id = $1 AND staff_user_id = $2 ORDER BY created_at DESC LIMIT $3",
        tenant_id,
        staff_user_id,
        limit,
    )
    totals = await conn.fetchrow(
        "SELECT count(*) AS n, COALESCE(sum(gross_paise), 0)::bigint AS gross, "
        "COALESCE(sum(commission_paise), 0)::bigint AS commission, "
        "COALESCE(sum(net_paise), 0)::bigint AS net "
        "FROM pandit_earnings WHERE tenant_id = $1 AND staff_user_id = $2 "
        "AND posted_at IS NOT NULL",
        tenant_id,
        staff_user_id,
    )
    return {
        "bookings": totals["n"],
        "gross_paise": totals["gross"],
        "commission_paise": totals["commission"],
        "net_paise": totals["net"],
        "entries": [
            {
                "booking_id": str(r["booking_id"]),
                "gross_paise": r["gross_paise"],
                "commission_bp": r["commission_bp"],
                "commission_paise": r["commission_paise"],
                "net_paise": r["net_paise"],
                "transfer_id": r["transfer_id"],
                "created_at": r["created_at"].isoformat(),
                "posted": r["posted_at"] is not None,
            }
            for r in rows
        ],
    }
