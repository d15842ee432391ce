"""Demo data: one tenant per platform, slots for the next 7 days, a user per role.

Seeding is idempotent: run it on every start and it only tops slots up to 7 days ahead.
The passwords are public on purpose; this data exists only under ``seva serve --demo``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from storage.gateway_credentials import describe_demo_gateways

DEMO_DAYS = 7
IST = ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True)
class DemoResource:
    kind: str
    name: str
    capacity: int
    price_paise: int
    first_start: time
    last_start: time
    minutes: int
    step_minutes: int


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    kind: str
    resources: tuple[DemoResource, ...]


DEMO_TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(
        "kashi-mandir",
        "Shri Kashi Seva Mandir",
        "temple",
        (
            DemoResource("puja", "Rudrabhishek", 10, 110_000, time(6), time(18), 60, 720),
            DemoResource(
                "chadhava", "Ganga Aarti Chadhava", 50, 25_100, time(19), time(19), 45, 60
            ),
        ),
    ),
    DemoTenant(
        "saraswati-library",
        "Saraswati Study Library",
        "library",
        (DemoResource("seat", "Silent Hall seats", 40, 4_000, time(8), time(20), 60, 60),),
    ),
    DemoTenant(
        "smash-padel",
        "Smash Padel Club",
        "venue",
        (
            DemoResource("court", "Court 1", 1, 120_000, time(6), time(21), 90, 90),
            DemoResource("court", "Court 2", 1, 120_000, time(6), time(21), 90, 90),
        ),
    ),
    DemoTenant(
        "acharya-sharma",
        "Jyotish Acharya Sharma",
        "consultancy",
        (
            DemoResource(
                "consultation", "Kundli consultation", 1, 50_100, time(10), time(17, 30), 30, 30
            ),
        ),
    ),
)

DEMO_ROLES: tuple[str, ...] = ("user", "staff", "tenant_admin")
PLATFORM_ADMIN_EMAIL = "admin@seva.demo"


def demo_password(role: str) -> str:
    return f"seva-demo-{role.replace('_', '-')}"


def demo_email(role: str, slug: str) -> str:
    return f"{role.replace('_', '-')}@{slug}.demo"


async def seed_demo(
    conn: asyncpg.Connection,
    *,
    hash_password: Callable[[str], str],
    today: date | None = None,
    hold_ttl_secs: int = 600,
) -> None:
    """Create (or top up) the demo tenants, resources, slots and users."""
    start_day = today or datetime.now(IST).date()
    async with conn.transaction():
        for tenant in DEMO_TENANTS:
            tenant_id = await conn.fetchval(
                """
                INSERT INTO tenants (slug, name, kind, settings) VALUES ($1, $2, $3, $4::jsonb)
                ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id
                """,
                tenant.slug,
                tenant.name,
                tenant.kind,
                json.dumps({"hold_ttl_secs": hold_ttl_secs}),
            )
            for resource in tenant.resources:
                resource_id = await conn.fetchval(
                    "SELECT id FROM resources WHERE tenant_id = $1 AND name = $2",
                    tenant_id,
                    resource.name,
                )
                if resource_id is None:
                    resource_id = await conn.fetchval(
                        "INSERT INTO resources (tenant_id, kind, name) VALUES ($1, $2, $3) "
                        "RETURNING id",
                        tenant_id,
                        resource.kind,
                        resource.name,
                    )
                await _insert_slots(conn, tenant_id, resource_id, resource, start_day)
            for role in DEMO_ROLES:
                await _insert_user(
                    conn, tenant_id, demo_email(role, tenant.slug), role, hash_password
                )
        await _insert_user(conn, None, PLATFORM_ADMIN_EMAIL, "platform_admin", hash_password)


async def _insert_slots(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    resource_id: UUID,
    resource: DemoResource,
    start_day: date,
) -> None:
    starts: list[datetime] = []
    for offset in range(DEMO_DAYS + 1):
        day = start_day + timedelta(days=offset)
        at = datetime.combine(day, resource.first_start, IST)
        last = datetime.combine(day, resource.last_start, IST)
        while at <= last:
            starts.append(at)
            at += timedelta(minutes=resource.step_minutes)
    await conn.execute(
        """
        INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, capacity,
                           price_paise)
        SELECT $1, $2, s, s + make_interval(mins => $3), (s AT TIME ZONE 'Asia/Kolkata')::date,
               $4, $5
        FROM unnest($6::timestamptz[]) AS s
        ON CONFLICT (resource_id, starts_at) DO NOTHING
        """,
        tenant_id,
        resource_id,
        resource.minutes,
        resource.capacity,
        resource.price_paise,
        [s.astimezone(UTC) for s in starts],
    )


async def _insert_user(
    conn: asyncpg.Connection,
    tenant_id: UUID | None,
    email: str,
    role: str,
    hash_password: Callable[[str], str],
) -> None:
    exists = await conn.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)", email)
    if exists:
        return
    await conn.execute(
        "INSERT INTO users (tenant_id, email, name, role, password_hash) "
        "VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        email,
        f"Demo {role.replace('_', ' ')}",
        role,
        hash_password(demo_password(role)),
    )


async def describe_demo(conn: asyncpg.Connection, *, today: date | None = None) -> dict[str, Any]:
    """What ``GET /api/v1/demo`` answers: tenants, resources, upcoming slot ids, logins, and
    the gateway emulators with each tenant's test key ids and webhook secrets."""
    start_day = today or datetime.now(IST).date()
    slugs = [t.slug for t in DEMO_TENANTS]
    tenants = await conn.fetch(
        "SELECT id, slug, name, kind FROM tenants WHERE slug = ANY($1::text[]) ORDER BY slug", slugs
    )
    emulators, tenant_gateways = await describe_demo_gateways(
        conn, slugs_by_tenant={t["id"]: t["slug"] for t in tenants}
    )
    out: list[dict[str, Any]] = []
    for t in tenants:
        resources = await conn.fetch(
            "SELECT id, kind, name FROM resources WHERE tenant_id = $1 ORDER BY name", t["id"]
        )
        res_out = []
        for r in resources:
            slots = await conn.fetch(
                """
                SELECT id, local_date, starts_at, ends_at, capacity, price_paise
                FROM slots WHERE resource_id = $1 AND local_date >= $2
                ORDER BY starts_at
                """,
                r["id"],
                start_day,
            )
            res_out.append(
                {
                    "resource_id": str(r["id"]),
                    "kind": r["kind"],
                    "name": r["name"],
                    "slots": [
                        {
                            "slot_id": str(s["id"]),
                            "date": s["local_date"].isoformat(),
                            "starts_at": s["starts_at"].isoformat(),
                            "ends_at": s["ends_at"].isoformat(),
                            "capacity": s["capacity"],
                            "price_paise": s["price_paise"],
                        }
                        for s in slots
                    ],
                }
            )
        out.append(
            {
                "tenant_id": str(t["id"]),
                "slug": t["slug"],
                "name": t["name"],
                "kind": t["kind"],
                "resources": res_out,
                "gateways": tenant_gateways.get(t["id"], {}),
            }
        )
    users: list[dict[str, str | None]] = [
        {
            "email": demo_email(role, t.slug),
            "password": demo_password(role),
            "role": role,
            "tenant": t.slug,
        }
        for t in DEMO_TENANTS
        for role in DEMO_ROLES
    ]
    users.append(
        {
            "email": PLATFORM_ADMIN_EMAIL,
            "password": demo_password("platform_admin"),
            "role": "platform_admin",
            "tenant": None,
        }
    )
    return {"tenants": out, "users": users, "gateways": emulators}
