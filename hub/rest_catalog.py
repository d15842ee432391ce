"""Catalog administration over REST: resources, slot generation, slot capacity.

Tenant admins act on their own tenant; platform operators name one with ``?tenant_id=``.
Everything runs inside the tenant's row-level-security scope, so another tenant's resources
and slots answer ``not_found``. A slot's capacity belongs to the tenant's inventory actor (it
guards held and confirmed places), so changing it is a command to that actor.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from aiohttp import web

from actors.commands import RefreshTenantCommand, SetSlotCapacityCommand
from hub import keys
from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.rest_admin import acting_tenant
from hub.restkit import json_body, json_response, path_uuid, query_int
from protocols.catalog import (
    MAX_SCHEDULE_DAYS,
    CreateResource,
    GenerateSlotsResult,
    ResourceList,
    ResourceRemoved,
    ResourceView,
    SlotList,
    SlotView,
    UpdateResource,
    UpdateSlot,
    WeeklySchedule,
)
from protocols.errors import Conflict, Invalid, LimitExceeded, NotFound
from protocols.permissions import Perm
from protocols.schedule import expand_schedule
from protocols.wire import parse_iso_date
from storage import audit, catalog, tenants
from storage.tenancy import tenant_scope

routes = web.RouteTableDef()

_RESOURCES = "/api/v1/catalog/resources"
_RESOURCE = _RESOURCES + "/{resource_id}"


def _view(row: dict[str, Any]) -> ResourceView:
    return ResourceView.model_validate(row)


def _fields(row: dict[str, Any]) -> CreateResource:
    return CreateResource.model_validate({k: row[k] for k in CreateResource.model_fields})


def _no_resource(resource_id: UUID) -> NotFound:
    return NotFound("no such resource", {"resource_id": str(resource_id)})


async def _check_resource_limit(conn: asyncpg.Connection, tenant_id: UUID) -> None:
    """Caller holds :func:`storage.catalog.lock_catalog`, so two admins cannot both take the
    plan's last place."""
    limit = await tenants.plan_limit(conn, tenant_id=tenant_id, limit="max_resources")
    if limit is None:
        return
    if await catalog.count_active_resources(conn, tenant_id=tenant_id) >= limit:
        raise LimitExceeded("the plan's resource limit is reached", {"max_resources": limit})


async def _tenant_zone(conn: asyncpg.Connection, tenant_id: UUID) -> ZoneInfo:
    name = await catalog.tenant_timezone(conn, tenant_id=tenant_id)
    if name is None:
        raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Conflict(
            "the tenant's timezone is not known", {"reason": "tenant_timezone", "timezone": name}
        ) from exc


# -- resources -------------------------------------------------------------------------------


@routes.post(_RESOURCES)
@api(
    "Create resource",
    tags="catalog",
    body=CreateResource,
    response=ResourceView,
    status=201,
    query={"tenant_id": "uuid"},
    errors=("conflict", "limit_exceeded"),
)
@requires(Perm.CATALOG_WRITE)
async def create_resource(request: web.Request) -> web.Response:
    tenant_id = acting_tenant(request, principal_of(request))
    body = await json_body(request, CreateResource)
    async with tenant_scope(request.app[keys.DB], tenant_id) as conn:
        await _tenant_zone(conn, tenant_id)  # the tenant exists (platform operators name it)
        await catalog.lock_catalog(conn, tenant_id=tenant_id)
        await _check_resource_limit(conn, tenant_id)
        row = await catalog.insert_resource(
            conn,
            tenant_id=tenant_id,
            kind=body.kind,
            fields=body.model_dump(mode="json", exclude={"kind"}),
        )
        view = _view(row)
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="catalog.resource_created",
            entity="resource",
            entity_id=view.resource_id,
            after=view.model_dump(mode="json"),
        )
    return json_response(view, status=201)


@routes.get(_RESOURCES)
@api(
    "List resources",
    tags="catalog",
    query={"include_archived": "boolean", "tenant_id": "uuid"},
    response=ResourceList,
)
@requires(Perm.CATALOG_READ)
async def list_resources(request: web.Request) -> web.Response:
    tenant_id = acting_tenant(request, principal_of(request))
    raw = request.query.get("include_archived", "false")
    if raw not in ("true", "false"):
        raise Invalid(
            "include_archived must be true or false", {"loc": ["query", "include_archived"]}
        )
    async with tenant_scope(request.app[keys.DB], tenant_id, readonly=True) as conn:
        rows = await catalog.list_resources(
            conn, tenant_id=tenant_id, include_archived=raw == "true"
        )
    return web.json_response({"resources": [_view(r).model_dump(mode="json") for r in rows]})


@routes.get(_RESOURCE)
@api("Get resource", tags="catalog", response=ResourceView, query={"tenant_id": "uuid"})
@requires(Perm.CATALOG_READ)
async def get_resource(request: web.Request) -> web.Response:
    tenant_id = acting_tenant(request, principal_of(request))
    resource_id = path_uuid(request, "resource_id")
    async with tenant_scope(request.app[keys.DB], tenant_id, readonly=True) as conn:
        row = await catalog.get_resource(conn, tenant_id=tenant_id, resource_id=resource_id)
    if row is None:
        raise _no_resource(resource_id)
    return json_response(_view(row))


@routes.patch(_RESOURCE)
@api(
    "Update resource",
    tags="catalog",
    body=UpdateResource,
    response=ResourceView,
    query={"tenant_id": "uuid"},
    errors=("conflict", "limit_exceeded"),
)
@requires(Perm.CATALOG_WRITE)
async def update_resource(request: web.Request) -> web.Response:
    tenant_id = acting_tenant(request, principal_of(request))
    resource_id = path_uuid(request, "resource_id")
    change = await json_body(request, UpdateResource)
    async with tenant_scope(request.app[keys.DB], tenant_id) as conn:
        if change.status == "active":
            await catalog.lock_catalog(conn, tenant_id=tenant_id)
        row = await catalog.get_resource(
            conn, tenant_id=tenant_id, resource_id=resource_id, for_update=True
        )
        if row is None:
            raise _no_resource(resource_id)
        if change.version is not None and change.version != row["version"]:
            raise Conflict(
                "the resource changed meanwhile; read it again",
                {"reason": "version", "version": row["version"]},
            )
        fields = _fields(row).updated(change)
        status = change.status or row["status"]
        if status == "active" and row["status"] != "active":
            await _check_resource_limit(conn, tenant_id)
        after = await catalog.update_resource(
            conn,
            tenant_id=tenant_id,
            resource_id=resource_id,
            fields=fields.model_dump(mode="json", exclude={"kind"}),
            status=status,
            version=row["version"],
        )
        view = _view(after)
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="catalog.resource_updated",
            entity="resource",
            entity_id=resource_id,
            before=_view(row).model_dump(mode="json"),
            after=view.model_dump(mode="json"),
        )
    if status != row["status"]:
        # Archived resources are not bookable: the inventory actor must re-read them.
        await request.app[keys.SHARDS].execute(RefreshTenantCommand(tenant_id=tenant_id))
    return json_response(view)


@routes.delete(_RESOURCE)
@api("Delete resource", tags="catalog", response=ResourceRemoved, query={"tenant_id": "uuid"})
@requires(Perm.CATALOG_WRITE)
async def delete_resource(request: web.Request) -> web.Response:
    """Deleted when nothing refers to it (no holds on its slots); archived otherwise."""
    tenant_id = acting_tenant(request, principal_of(request))
    resource_id = path_uuid(request, "resource_id")
    async with tenant_scope(request.app[keys.DB], tenant_id) as conn:
        row = await catalog.get_resource(
            conn, tenant_id=tenant_id, resource_id=resource_id, for_update=True
        )
        if row is None:
            raise _no_resource(resource_id)
        before = _view(row).model_dump(mode="json")
        if await catalog.delete_resource_unless_referenced(
            conn, tenant_id=tenant_id, resource_id=resource_id
        ):
            outcome = ResourceRemoved(resource_id=resource_id, outcome="deleted")
            action, after = "catalog.resource_deleted", None
        else:
            await catalog.archive_resource(conn, tenant_id=tenant_id, resource_id=resource_id)
            outcome = ResourceRemoved(resource_id=resource_id, outcome="archived")
            action, after = "catalog.resource_archived", {"status": "archived"}
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action=action,
            entity="resource",
            entity_id=resource_id,
            before=before,
            after=after,
        )
    # Deleted or archived, its slots must stop being bookable in the inventory actor too.
    await request.app[keys.SHARDS].execute(RefreshTenantCommand(tenant_id=tenant_id))
    return json_response(outcome)


# -- slots -----------------------------------------------------------------------------------


@routes.post(_RESOURCE + "/slots:generate")
@api(
    "Generate slots",
    tags="catalog",
    body=WeeklySchedule,
    response=GenerateSlotsResult,
    query={"tenant_id": "uuid"},
    errors=("conflict",),
)
@requires(Perm.CATALOG_WRITE)
async def generate_slots(request: web.Request) -> web.Response:
    """Idempotent: a slot that exists (same resource and start) is skipped, not changed."""
    tenant_id = acting_tenant(request, principal_of(request))
    resource_id = path_uuid(request, "resource_id")
    schedule = await json_body(request, WeeklySchedule)
    async with tenant_scope(request.app[keys.DB], tenant_id) as conn:
        # Locked, so a concurrent delete cannot remove the resource under the new slots.
        row = await catalog.get_resource(
            conn, tenant_id=tenant_id, resource_id=resource_id, for_update=True
        )
        if row is None:
            raise _no_resource(resource_id)
        if row["status"] != "active":
            raise Conflict("the resource is archived", {"status": row["status"]})
        zone = await _tenant_zone(conn, tenant_id)
        # Up to MAX_SLOTS_PER_CALL slots take ~0.1 s of CPU: off the event loop.
        planned = await asyncio.to_thread(
            expand_schedule,
            schedule,
            tz=zone,
            today=datetime.now(zone).date(),
            duration_mins=row["duration_mins"],
            default_capacity=row["capacity"],
            default_price_paise=row["price_paise"],
        )
        created = await catalog.insert_slots(
            conn, tenant_id=tenant_id, resource_id=resource_id, slots=planned
        )
        result = GenerateSlotsResult(created=created, skipped=len(planned) - created)
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="catalog.slots_generated",
            entity="resource",
            entity_id=resource_id,
            after={
                "schedule": schedule.model_dump(mode="json", by_alias=True),
                **result.model_dump(mode="json"),
            },
        )
    return json_response(result)


def _query_date(request: web.Request, name: str, default: date | None = None) -> date:
    raw = request.query.get(name)
    if raw is None and default is not None:
        return default
    try:
        if raw is None or len(raw) != 10:
            raise ValueError
        return parse_iso_date(raw)
    except ValueError as exc:
        raise Invalid(f"{name} must be YYYY-MM-DD", {"loc": ["query", name]}) from exc


@routes.get(_RESOURCE + "/slots")
@api(
    "List slots",
    tags="catalog",
    response=SlotList,
    query={"limit": "integer", "from": "date", "to": "date", "tenant_id": "uuid"},
)
@requires(Perm.CATALOG_READ)
async def list_slots(request: web.Request) -> web.Response:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (tenant-local dates, ``to`` defaults to ``from``)."""
    tenant_id = acting_tenant(request, principal_of(request))
    resource_id = path_uuid(request, "resource_id")
    date_from = _query_date(request, "from")
    date_to = _query_date(request, "to", default=date_from)
    if not 0 <= (date_to - date_from).days < MAX_SCHEDULE_DAYS:
        raise Invalid(
            f"to must be from or later, at most {MAX_SCHEDULE_DAYS} days on",
            {"loc": ["query", "to"]},
        )
    limit = query_int(request, "limit", default=1000, low=1, high=5000)
    async with tenant_scope(request.app[keys.DB], tenant_id, readonly=True) as conn:
        if await catalog.get_resource(conn, tenant_id=tenant_id, resource_id=resource_id) is None:
            raise _no_resource(resource_id)
        rows = await catalog.list_slots(
            conn,
            tenant_id=tenant_id,
            resource_id=resource_id,
            date_from=date_from,
            date_to=date_to,
            limit=limit + 1,
        )
    slots = [SlotView.model_validate(r) for r in rows[:limit]]
    return json_response(SlotList(slots=slots, truncated=len(rows) > limit))


@routes.patch("/api/v1/catalog/slots/{slot_id}")
@api("Update slot", tags="catalog", body=UpdateSlot, response=SlotView, query={"tenant_id": "uuid"})
@requires(Perm.CATALOG_WRITE)
async def update_slot(request: web.Request) -> web.Response:
    """Capacity below what is held and confirmed is a ``conflict`` and changes nothing."""
    tenant_id = acting_tenant(request, principal_of(request))
    slot_id = path_uuid(request, "slot_id")
    body = await json_body(request, UpdateSlot)
    db = request.app[keys.DB]
    async with tenant_scope(db, tenant_id, readonly=True) as conn:
        if await catalog.get_slot(conn, tenant_id=tenant_id, slot_id=slot_id) is None:
            raise NotFound("no such slot", {"slot_id": str(slot_id)})
    changed = await request.app[keys.SHARDS].execute(
        SetSlotCapacityCommand(tenant_id=tenant_id, slot_id=slot_id, capacity=body.capacity)
    )
    # The actor has committed; the audit row follows in its own transaction.
    async with tenant_scope(db, tenant_id) as conn:
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="catalog.slot_capacity_changed",
            entity="slot",
            entity_id=slot_id,
            before={"capacity": changed.capacity_before},
            after={"capacity": changed.capacity},
        )
        row = await catalog.get_slot(conn, tenant_id=tenant_id, slot_id=slot_id)
    if row is None:
        raise NotFound("no such slot", {"slot_id": str(slot_id)})
    return json_response(SlotView.model_validate(row))
