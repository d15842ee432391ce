"""Tenants' festival calendars: tenant admins add entries, the tenant's users read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from protocols.errors import Conflict, NotFound
from protocols.festivals import MAX_RANGE_DAYS, CreateFestival, FestivalRange
from protocols.panchang import zone_of
from protocols.wire import parse_iso_date
from storage import audit, catalog
from storage import panchang as store
from storage.tenancy import tenant_scope


class FestivalCalendar:
    def __init__(self, *, db: asyncpg.Pool) -> None:
        self._db = db

    async def create(
        self,
        principal: Principal,
        tenant_id: UUID,
        body: CreateFestival,
        idempotency_key: str,
        ctx: audit.AuditContext,
    ) -> tuple[dict[str, Any], bool]:
        """(the entry, made now). The same key with the same fields answers the same entry;
        with other fields it is Conflict (``exists_with_different_fields``). NotFound for an
        unknown tenant (platform operators name one)."""
        rule = body.tithi_rule.model_dump(mode="json") if body.tithi_rule is not None else None
        async with tenant_scope(self._db, tenant_id) as conn:
            if await catalog.tenant_timezone(conn, tenant_id=tenant_id) is None:
                raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
            festival, made = await store.insert_festival(
                conn,
                tenant_id=tenant_id,
                name=body.name,
                day=body.day,
                description=body.description,
                tithi_rule=rule,
                idempotency_key=idempotency_key,
                created_by=principal.user_id,
            )
            if not made:
                asked = (body.name, body.day, body.description, rule)
                if (festival.name, festival.day, festival.description, festival.tithi_rule) != (
                    asked
                ):
                    raise Conflict(
                        "idempotency key was already used for a different festival",
                        {"reason": "exists_with_different_fields"},
                    )
                return festival.to_wire(), False
            await audit.record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="festival.created",
                entity="festival",
                entity_id=festival.id,
                after=festival.to_wire(),
            )
        return festival.to_wire(), True

    async def between(
        self, principal: Principal, tenant_id: UUID, first: str | None, last: str | None
    ) -> dict[str, Any]:
        """Entries dated ``first``..``last`` (inclusive), by date. Without ``first``: today in
        the tenant's timezone; without ``last``: a year from ``first``. NotFound for another
        tenant (its calendar is not revealed) or an unknown one."""
        if not principal.may_act_in(tenant_id):
            raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
        async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
            zone = await catalog.tenant_timezone(conn, tenant_id=tenant_id)
            if zone is None:
                raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
            if first is None:
                first = datetime.now(UTC).astimezone(zone_of(zone)).date().isoformat()
            if last is None:
                try:
                    last = (parse_iso_date(first) + timedelta(days=MAX_RANGE_DAYS - 1)).isoformat()
                except ValueError:
                    last = first  # refused below, with the schema's own message
            window = FestivalRange.model_validate({"from": first, "to": last})
            rows = await store.festivals_between(
                conn, tenant_id=tenant_id, first=window.first, last=window.last
            )
        return {
            "tenant_id": str(tenant_id),
            "from": window.from_,
            "to": window.to,
            "festivals": [f.to_wire() for f in rows],
        }
