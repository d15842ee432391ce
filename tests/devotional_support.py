"""A temple for the devotional tests: a Rudrabhishek puja (sankalp fields required), two
chadhava offerings with a day's stock each, a multi-day yatra, a devotee, and a pandit."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from tests.support import Hub, World, bearer

PUJA_PRICE = 110_000  # ₹1,100 per name
CHADHAVA_PRICE = 25_100
YATRA_PRICE = 500_000


@dataclass(frozen=True)
class Temple:
    world: World  # tenant, the puja resource and slot, users, the pandit
    puja_slot_id: UUID
    chadhava_ids: list[UUID]  # resources
    chadhava_slot_ids: list[UUID]  # their stock on the puja's day
    yatra_id: UUID
    yatra_slot_ids: list[UUID]  # one per day
    day: date


async def make_temple(
    db: asyncpg.Pool,
    *,
    puja_capacity: int = 10,
    chadhava_stock: int = 5,
    yatra_capacity: int = 4,
    yatra_days: int = 3,
    users: int = 2,
) -> Temple:
    tag = uuid.uuid4().hex[:10]
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    base = datetime.combine(day, datetime.min.time(), UTC)
    fields = {"max_participants": 21, "required": ["gotra", "nakshatra"]}
    async with db.acquire() as conn, conn.transaction():
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name, kind, timezone, settings) "
            "VALUES ($1, $2, 'temple', 'UTC', '{}'::jsonb) RETURNING id",
            f"temple-{tag}",
            f"Temple {tag}",
        )

        async def resource(kind: str, name: str, booking_fields: Any = None) -> UUID:
            return await conn.fetchval(
                "INSERT INTO resources (tenant_id, kind, name, booking_fields) "
                "VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
                tenant_id,
                kind,
                name,
                None if booking_fields is None else json.dumps(booking_fields),
            )

        async def slot(resource_id: UUID, starts: datetime, capacity: int, price: int) -> UUID:
            return await conn.fetchval(
                "INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, "
                "capacity, price_paise) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                tenant_id,
                resource_id,
                starts,
                starts + timedelta(hours=1),
                starts.date(),
                capacity,
                price,
            )

        puja = await resource("puja", "Rudrabhishek", fields)
        puja_slot = await slot(puja, base + timedelta(hours=6), puja_capacity, PUJA_PRICE)
        chadhavas = [await resource("chadhava", n) for n in ("Bel Patra", "Panchamrit")]
        chadhava_slots = [
            await slot(c, base + timedelta(hours=5), chadhava_stock, CHADHAVA_PRICE)
            for c in chadhavas
        ]
        yatra = await resource("yatra", "Char Dham Yatra")
        yatra_slots = [
            await slot(yatra, base + timedelta(days=i, hours=4), yatra_capacity, YATRA_PRICE)
            for i in range(yatra_days)
        ]
        user_ids = [
            await conn.fetchval(
                "INSERT INTO users (tenant_id, email, name, role, password_hash) "
                "VALUES ($1, $2, $3, 'user', 'x') RETURNING id",
                tenant_id,
                f"devotee{i}-{tag}@example.test",
                f"Devotee {i}",
            )
            for i in range(users)
        ]
        staff_id = await conn.fetchval(
            "INSERT INTO users (tenant_id, email, name, role, password_hash) "
            "VALUES ($1, $2, 'Pandit Sharma', 'staff', 'x') RETURNING id",
            tenant_id,
            f"pandit-{tag}@example.test",
        )
    world = World(tenant_id, puja, day, [puja_slot], user_ids, staff_id)
    return Temple(world, puja_slot, chadhavas, chadhava_slots, yatra, yatra_slots, day)


def sankalp(names: list[str]) -> list[dict[str, str]]:
    return [
        {"name": n, "gotra": "Kashyap", "nakshatra": "Rohini", "relation": r}
        for n, r in zip(names, ["self", "husband", "son", "daughter"] * 10, strict=False)
    ]


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, json=body, headers=bearer(token)) as resp:
        return resp.status, await resp.json()


async def book_puja(
    http: aiohttp.ClientSession,
    hub: Hub,
    token: str,
    temple: Temple,
    names: list[str],
    offerings: list[tuple[int, int]] = (),  # type: ignore[assignment]
    key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    return await call(
        http,
        "POST",
        f"{hub.url}/api/v1/devotional/bookings",
        token,
        {
            "slot_id": str(temple.puja_slot_id),
            "participants": sankalp(names),
            "special_requests": "Please chant for good health",
            "offerings": [
                {"resource_id": str(temple.chadhava_ids[i]), "qty": q} for i, q in offerings
            ],
            "idempotency_key": key or uuid.uuid4().hex,
        },
    )
