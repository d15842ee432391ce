"""Helpers for tests: tenants made with SQL, tokens, and real Socket.IO clients."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import socketio
from aiohttp import web

from actors.ledger import TransferSpec
from hub import keys
from hub.auth import TokenIssuer
from storage import ledger as ledger_db


@dataclass(frozen=True)
class Hub:
    url: str
    app: web.Application
    tokens: TokenIssuer


@dataclass(frozen=True)
class World:
    tenant_id: UUID
    resource_id: UUID
    day: date
    slot_ids: list[UUID]
    user_ids: list[UUID]
    staff_id: UUID

    @property
    def date(self) -> str:
        return self.day.isoformat()


async def make_world(
    db: asyncpg.Pool,
    *,
    capacity: int = 5,
    slots: int = 1,
    users: int = 1,
    hold_ttl_secs: int = 600,
    days_ahead: int = 2,
) -> World:
    """A fresh tenant with one resource, ``slots`` slots on one day, and ``users`` users."""
    tag = uuid.uuid4().hex[:10]
    day = (datetime.now(UTC) + timedelta(days=days_ahead)).date()
    async with db.acquire() as conn, conn.transaction():
        tenant_id = await conn.fetchval(
            "INSERT INTO tenants (slug, name, kind, timezone, settings) "
            "VALUES ($1, $2, 'temple', 'UTC', $3::jsonb) RETURNING id",
            f"t-{tag}",
            f"Temple {tag}",
            json.dumps({"hold_ttl_secs": hold_ttl_secs}),
        )
        resource_id = await conn.fetchval(
            "INSERT INTO resources (tenant_id, kind, name) VALUES ($1, 'puja', 'Rudrabhishek') "
            "RETURNING id",
            tenant_id,
        )
        slot_ids = []
        for i in range(slots):
            starts = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=6 + i)
            slot_ids.append(
                await conn.fetchval(
                    "INSERT INTO slots (tenant_id, resource_id, starts_at, ends_at, local_date, "
                    "capacity, price_paise) VALUES ($1, $2, $3, $4, $5, $6, 110000) RETURNING id",
                    tenant_id,
                    resource_id,
                    starts,
                    starts + timedelta(hours=1),
                    day,
                    capacity,
                )
            )
        user_ids = [
            await conn.fetchval(
                "INSERT INTO users (tenant_id, email, name, role, password_hash) "
                "VALUES ($1, $2, 'Devotee', 'user', 'x') RETURNING id",
                tenant_id,
                f"u{i}-{tag}@example.test",
            )
            for i in range(users)
        ]
        staff_id = await conn.fetchval(
            "INSERT INTO users (tenant_id, email, name, role, password_hash) "
            "VALUES ($1, $2, 'Pandit', 'staff', 'x') RETURNING id",
            tenant_id,
            f"staff-{tag}@example.test",
        )
    return World(tenant_id, resource_id, day, slot_ids, user_ids, staff_id)


def user_token(hub: Hub, world: World, index: int = 0) -> str:
    return hub.tokens.issue(user_id=world.user_ids[index], tenant_id=world.tenant_id, role="user")


def staff_token(hub: Hub, world: World) -> str:
    return hub.tokens.issue(user_id=world.staff_id, tenant_id=world.tenant_id, role="staff")


@dataclass
class Client:
    """A real python-socketio client that records every ``availability`` delta it receives,
    and every other server event as ``(event, data)`` in ``events``."""

    sio: socketio.AsyncClient
    deltas: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def call(self, event: str, data: Any = None, wait_secs: float = 30.0) -> dict[str, Any]:
        if data is None:
            return await self.sio.call(event, timeout=wait_secs)
        return await self.sio.call(event, data, timeout=wait_secs)

    async def close(self) -> None:
        await self.sio.disconnect()

    def deltas_for(self, stream: str) -> list[dict[str, Any]]:
        return [d for d in self.deltas if d["stream"] == stream]


async def connect(hub: Hub, token: str | None) -> Client:
    return await connect_url(hub.url, token)


async def connect_url(url: str, token: str | None) -> Client:
    sio = socketio.AsyncClient(reconnection=False)
    client = Client(sio)

    @sio.on("availability")
    async def _on_delta(data: dict[str, Any]) -> None:
        client.deltas.append(data)

    @sio.on("*")
    async def _on_any(event: str, data: Any = None) -> None:
        client.events.append((event, data))

    auth = {"token": token} if token is not None else None
    await sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
    return client


async def subscribe(client: Client, world: World, since: int | None = None) -> dict[str, Any]:
    """``availability:subscribe`` to the world's resource and day; returns the ack's data."""
    payload: dict[str, Any] = {
        "tenant_id": str(world.tenant_id),
        "resource_id": str(world.resource_id),
        "date": world.date,
    }
    if since is not None:
        payload["since"] = since
    ack = await client.call("availability:subscribe", payload)
    assert ack["ok"], ack
    return ack["data"]


async def hold_status(db: asyncpg.Pool, hold_id: str) -> str:
    async with db.acquire() as conn:
        return await conn.fetchval("SELECT status FROM holds WHERE id = $1", UUID(hold_id))


async def eventually(check: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait until ``check()`` holds; fail with the last state if it never does."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def make_user(
    db: asyncpg.Pool,
    *,
    tenant_id: UUID | None,
    role: str,
    password_hash: str = "x",
    email: str | None = None,
) -> UUID:
    async with db.acquire() as conn:
        return await conn.fetchval(
            "INSERT INTO users (tenant_id, email, name, role, password_hash) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            tenant_id,
            email or f"{role}-{uuid.uuid4().hex[:10]}@example.test",
            f"Test {role}",
            role,
            password_hash,
        )


def token_for(hub: Hub, user_id: UUID, tenant_id: UUID | None, role: str) -> str:
    return hub.tokens.issue(user_id=user_id, tenant_id=tenant_id, role=role)


async def fund_wallet(
    hub: Hub, db: asyncpg.Pool, world: World, amount: int, index: int = 0
) -> UUID:
    """Top up user ``index``'s wallet through the wallet actors (as a gateway top-up would)."""
    async with db.acquire() as conn:
        wallet = await ledger_db.ensure_account(
            conn,
            code="user_wallet",
            currency="INR",
            tenant_id=world.tenant_id,
            owner_user_id=world.user_ids[index],
            limited=True,
        )
        clearing = await ledger_db.ensure_account(conn, code="gateway_clearing", currency="INR")
    await hub.app[keys.WALLETS].apply(
        (TransferSpec(f"topup-{uuid.uuid4()}", clearing, wallet, amount),)
    )
    return wallet


async def confirmed_booking(hub: Hub, db: asyncpg.Pool, world: World, index: int = 0) -> str:
    """A booking of one place in the world's first slot, held and paid from the wallet."""
    await fund_wallet(hub, db, world, 110_000, index)
    client = await connect(hub, user_token(hub, world, index))
    try:
        held = await client.call(
            "hold:create",
            {"slot_id": str(world.slot_ids[0]), "qty": 1, "idempotency_key": uuid.uuid4().hex},
        )
        assert held["ok"], held
        paid = await client.call("hold:pay", {"hold_id": held["data"]["hold_id"]})
        assert paid["ok"] and paid["data"]["status"] == "confirmed", paid
        return str(held["data"]["hold_id"])
    finally:
        await client.close()


async def admin_token(hub: Hub, db: asyncpg.Pool, world: World) -> str:
    """A token of a new tenant admin of the world's tenant."""
    admin = await make_user(db, tenant_id=world.tenant_id, role="tenant_admin")
    return token_for(hub, admin, world.tenant_id, "tenant_admin")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


REPO_ROOT = Path(__file__).resolve().parents[1]


def seva_command_env(dsn: str, **settings: str) -> dict[str, str]:
    """The environment of a ``seva`` child process on ``dsn`` and a local Ray of its own:
    this process's, without ``RAY_ADDRESS``, plus ``settings`` (e.g. ``SEVA_DATA_DIR``)."""
    env = {**os.environ, "DATABASE_URL": dsn, "RAY_AUTH_MODE": "disabled", **settings}
    env.pop("RAY_ADDRESS", None)
    return env


async def run_seva_smoke_bench(
    name: str, dsn: str, data_dir: str, *extra_args: str
) -> tuple[dict[str, Any], str]:
    """``seva bench <name> --smoke [extra_args]`` in a real process against ``dsn``; asserts a
    clean exit and returns the bench's JSON summary (its last line) and everything it printed."""

    env = seva_command_env(dsn, SEVA_DATA_DIR=data_dir)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        "bench",
        name,
        "--smoke",
        *extra_args,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=280)
    stdout = out.decode()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout}\n{err.decode()[-3000:]}"
    return json.loads(stdout.strip().splitlines()[-1]), stdout


async def create_database(dsn: str) -> str:
    """A new, migrated database in the cluster of ``dsn``; returns its DSN. For tests that
    must not share the session database (e.g. ones that prune its history)."""
    from urllib.parse import urlsplit, urlunsplit

    from storage.migrate import apply_migrations

    name = f"seva_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(dsn)
    fresh = urlunsplit(parts._replace(path=f"/{name}"))
    conn = await asyncpg.connect(fresh)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return fresh


async def configure_gateways(
    hub: Hub,
    db: asyncpg.Pool,
    emulators: Any,
    tenant_id: UUID,
    gateways: tuple[str, ...] = ("razorpay", "cashfree"),
) -> dict[str, Any]:
    """Store ``gateways`` for the tenant (priority in that order), each a fresh emulator
    merchant with the default fee schedule whose webhooks come back to this hub."""
    from pydantic import SecretStr

    from protocols.gateways.fees import DEFAULT_SCHEDULES
    from storage import gateway_credentials

    merchants: dict[str, Any] = {}
    box = hub.app[keys.GATEWAYS].secret_box()
    for priority, gateway in enumerate(gateways):
        merchant = await emulators.register_merchant(
            gateway, webhook_url=f"{hub.url}/api/v1/webhooks/{gateway}/{tenant_id}"
        )
        fees = DEFAULT_SCHEDULES[gateway]
        async with db.acquire() as conn:
            await gateway_credentials.upsert_gateway(
                conn,
                box,
                tenant_id=tenant_id,
                gateway=gateway,
                key_id=merchant.key_id,
                key_secret=SecretStr(merchant.key_secret),
                webhook_secrets=[SecretStr(merchant.webhook_secret)],
                base_url=merchant.base_url,
                fee_percent_bp=fees.percent_bp,
                fee_fixed_paise=fees.fixed_paise,
                priority=priority,
                enabled=True,
            )
        merchants[gateway] = merchant
    return merchants
