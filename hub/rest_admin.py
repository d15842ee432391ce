"""Administration: tenants (platform operators), staff accounts (tenant admins), audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from actors.commands import RefreshTenantCommand
from hub import keys
from hub.api_spec import api
from hub.auth import Principal
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.restkit import json_body, path_uuid, query_int
from protocols.errors import Invalid, LimitExceeded, NotFound
from protocols.permissions import Perm
from protocols.tenants import (
    AuditPage,
    CreateStaff,
    CreateTenant,
    StaffAssignments,
    StaffAssignmentsView,
    StaffCreated,
    StaffList,
    TenantList,
    TenantView,
    UpdatePlan,
)
from storage import audit, staff, tenants, users
from storage.tenancy import tenant_scope

routes = web.RouteTableDef()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, UUID | datetime):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    return value


def _ok(body: Any, status: int = 200) -> web.Response:
    return web.json_response(_jsonable(body), status=status)


def acting_tenant(request: web.Request, principal: Principal) -> UUID:
    """The principal's tenant; platform operators name one with ``?tenant_id=``."""
    if principal.tenant_id is not None:
        return principal.tenant_id
    raw = request.query.get("tenant_id")
    if raw is None:
        raise Invalid("platform operators must name a tenant with ?tenant_id=")
    try:
        return UUID(raw)
    except ValueError as exc:
        raise Invalid("tenant_id is not a UUID", {"loc": ["query", "tenant_id"]}) from exc


# -- tenants (platform operators) ------------------------------------------------------------


@routes.post("/api/v1/admin/tenants")
@api("Create tenant", tags="admin", body=CreateTenant, status=201, response=TenantView)
@requires(Perm.TENANTS_MANAGE)
async def create_tenant(request: web.Request) -> web.Response:
    body = await json_body(request, CreateTenant)
    admin_hash = (
        await request.app[keys.PASSWORDS].hash_async(body.admin.password) if body.admin else None
    )
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        tenant = await tenants.create_tenant(
            conn,
            slug=body.slug,
            name=body.name,
            kind=body.kind,
            timezone=body.timezone,
            plan=body.plan.model_dump(exclude_none=True),
            settings={"hold_ttl_secs": body.hold_ttl_secs},
        )
        if body.admin is not None and admin_hash is not None:
            admin = await users.create_user(
                conn,
                tenant_id=tenant["tenant_id"],
                email=body.admin.email,
                phone=body.admin.phone,
                name=body.admin.name,
                role="tenant_admin",
                language="en",
                password_hash=admin_hash,
            )
            tenant["admin_user_id"] = admin.user_id
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant["tenant_id"],
            action="tenant.created",
            entity="tenant",
            entity_id=tenant["tenant_id"],
            after=tenant,
        )
    return _ok(tenant, status=201)


@routes.get("/api/v1/admin/tenants")
@api(
    "List tenants",
    tags="admin",
    query={"limit": "integer", "offset": "integer", "status": "string"},
    response=TenantList,
)
@requires(Perm.TENANTS_MANAGE)
async def list_tenants(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status not in (None, "active", "suspended"):
        raise Invalid("status must be active or suspended", {"loc": ["query", "status"]})
    limit = query_int(request, "limit", default=50, low=1, high=500)
    offset = query_int(request, "offset", default=0, low=0, high=10_000_000)
    async with request.app[keys.DB].acquire() as conn:
        found = await tenants.list_tenants(conn, status=status, limit=limit, offset=offset)
    return _ok({"tenants": found, "limit": limit, "offset": offset})


@routes.get("/api/v1/admin/tenants/{tenant_id}")
@api("Get tenant", tags="admin", response=TenantView)
@requires(Perm.TENANTS_MANAGE)
async def get_tenant(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id")
    async with request.app[keys.DB].acquire() as conn:
        tenant = await tenants.get_tenant(conn, tenant_id=tenant_id)
    if tenant is None:
        raise NotFound("no such tenant")
    return _ok(tenant)


async def _set_status(request: web.Request, status: str) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id")
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        before = await tenants.get_tenant(conn, tenant_id=tenant_id)
        if before is None:
            raise NotFound("no such tenant")
        after = await tenants.set_status(conn, tenant_id=tenant_id, status=status)
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action=f"tenant.{'suspended' if status == 'suspended' else 'reactivated'}",
            entity="tenant",
            entity_id=tenant_id,
            before={"status": before["status"]},
            after={"status": status},
        )
    request.app[keys.SESSIONS].note_tenant_status(tenant_id, status)
    return _ok(after)


@routes.post("/api/v1/admin/tenants/{tenant_id}/suspend")
@api("Suspend tenant", tags="admin", response=TenantView)
@requires(Perm.TENANTS_MANAGE)
async def suspend_tenant(request: web.Request) -> web.Response:
    return await _set_status(request, "suspended")


@routes.post("/api/v1/admin/tenants/{tenant_id}/reactivate")
@api("Reactivate tenant", tags="admin", response=TenantView)
@requires(Perm.TENANTS_MANAGE)
async def reactivate_tenant(request: web.Request) -> web.Response:
    return await _set_status(request, "active")


@routes.put("/api/v1/admin/tenants/{tenant_id}/plan")
@api("Update plan", tags="admin", body=UpdatePlan, response=TenantView)
@requires(Perm.TENANTS_MANAGE)
async def update_plan(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id")
    body = await json_body(request, UpdatePlan)
    plan = body.plan.model_dump(exclude_none=True)
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        before = await tenants.get_tenant(conn, tenant_id=tenant_id)
        if before is None:
            raise NotFound("no such tenant")
        after = await tenants.set_plan(conn, tenant_id=tenant_id, plan=plan)
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="tenant.plan_changed",
            entity="tenant",
            entity_id=tenant_id,
            before={"plan": before["plan"]},
            after={"plan": plan},
        )
    # The tenant's logical actor enforces max_monthly_bookings: have it re-read the plan.
    await request.app[keys.SHARDS].execute(RefreshTenantCommand(tenant_id=tenant_id))
    return _ok(after)


# -- staff (tenant admins) -------------------------------------------------------------------


@routes.post("/api/v1/staff")
@api(
    "Create staff",
    tags="admin",
    body=CreateStaff,
    status=201,
    query={"tenant_id": "uuid"},
    errors=("limit_exceeded",),
    response=StaffCreated,
)
@requires(Perm.STAFF_MANAGE)
async def create_staff(request: web.Request) -> web.Response:
    principal = principal_of(request)
    tenant_id = acting_tenant(request, principal)
    body = await json_body(request, CreateStaff)
    password_hash = await request.app[keys.PASSWORDS].hash_async(body.password)
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        # Serialize staff creation per tenant so two admins cannot both take the last seat.
        await conn.execute("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", tenant_id)
        limit = await tenants.plan_limit(conn, tenant_id=tenant_id, limit="max_staff")
        if limit is not None and await users.count_staff(conn, tenant_id=tenant_id) >= limit:
            raise LimitExceeded("the plan's staff limit is reached", {"max_staff": limit})
        user = await users.create_user(
            conn,
            tenant_id=tenant_id,
            email=body.email,
            phone=body.phone,
            name=body.name,
            role=body.role,
            language=body.language,
            password_hash=password_hash,
        )
        view = {"user_id": user.user_id, "email": user.email, "name": user.name, "role": user.role}
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="staff.created",
            entity="user",
            entity_id=user.user_id,
            after=view,
        )
    return _ok(view, status=201)


@routes.get("/api/v1/staff")
@api("List staff", tags="admin", query={"tenant_id": "uuid"}, response=StaffList)
@requires(Perm.STAFF_MANAGE)
async def list_staff(request: web.Request) -> web.Response:
    tenant_id = acting_tenant(request, principal_of(request))
    async with tenant_scope(request.app[keys.DB], tenant_id, readonly=True) as conn:
        found = await staff.list_staff(conn, tenant_id=tenant_id)
    return _ok({"staff": found})


@routes.put("/api/v1/staff/{user_id}/assignments")
@api(
    "Set a staff member's assigned resources",
    tags="admin",
    body=StaffAssignments,
    query={"tenant_id": "uuid"},
    response=StaffAssignmentsView,
)
@requires(Perm.STAFF_MANAGE)
async def assign_staff(request: web.Request) -> web.Response:
    tenant_id = acting_tenant(request, principal_of(request))
    user_id = path_uuid(request, "user_id")
    body = await json_body(request, StaffAssignments)
    async with tenant_scope(request.app[keys.DB], tenant_id) as conn:
        before = await staff.assignments(conn, tenant_id=tenant_id, user_id=user_id)
        await staff.set_assignments(
            conn, tenant_id=tenant_id, user_id=user_id, resource_ids=body.resource_ids
        )
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="staff.assigned",
            entity="user",
            entity_id=user_id,
            before={"resource_ids": before},
            after={"resource_ids": body.resource_ids},
        )
    return _ok({"user_id": user_id, "resource_ids": body.resource_ids})


# -- audit -----------------------------------------------------------------------------------


def _query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"{name} must be an ISO 8601 time", {"loc": ["query", name]}) from exc
    if value.tzinfo is None:
        raise Invalid(f"{name} must carry a timezone", {"loc": ["query", name]})
    return value


def _query_uuid(request: web.Request, name: str) -> UUID | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError as exc:
        raise Invalid(f"{name} is not a UUID", {"loc": ["query", name]}) from exc


@routes.get("/api/v1/admin/audit")
@api(
    "Audit log, newest first",
    tags="admin",
    query={
        "limit": "integer",
        "before_id": "integer",
        "tenant_id": "uuid",
        "actor_user_id": "uuid",
        "since": "date-time",
        "until": "date-time",
        "action": "string",
    },
    response=AuditPage,
)
@requires(Perm.AUDIT_READ)
async def list_audit(request: web.Request) -> web.Response:
    principal = principal_of(request)
    tenant_id = principal.tenant_id if principal.tenant_id else _query_uuid(request, "tenant_id")
    limit = query_int(request, "limit", default=50, low=1, high=500)
    before_id = query_int(request, "before_id", default=0, low=0, high=2**62) or None
    action = request.query.get("action")
    if action is not None and len(action) > 100:
        raise Invalid("action is too long", {"loc": ["query", "action"]})
    async with request.app[keys.DB].acquire() as conn:
        entries = await audit.list_entries(
            conn,
            tenant_id=tenant_id,
            action=action,
            actor_user_id=_query_uuid(request, "actor_user_id"),
            since=_query_time(request, "since"),
            until=_query_time(request, "until"),
            before_id=before_id,
            limit=limit,
        )
    next_before = entries[-1]["id"] if len(entries) == limit else None
    return _ok({"entries": entries, "next_before_id": next_before})
