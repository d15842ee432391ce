"""Platform administration of tenants, staff accounts, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StrictInt

from protocols.auth import Email, Language, Name, Password, Phone
from protocols.wire import WireModel

TenantKind = Literal["temple", "library", "venue", "consultancy"]
PlanLimit = Annotated[StrictInt, Field(ge=0, le=10_000_000)]


class Plan(WireModel):
    """Absent limits are unlimited."""

    max_resources: PlanLimit | None = None
    max_staff: PlanLimit | None = None
    max_monthly_bookings: PlanLimit | None = None


class FirstAdmin(WireModel):
    email: Email
    name: Name
    password: Password
    phone: Phone | None = None


class CreateTenant(WireModel):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: Name
    kind: TenantKind
    timezone: str = Field(default="Asia/Kolkata", min_length=1, max_length=64)
    plan: Plan = Plan()
    hold_ttl_secs: StrictInt = Field(default=600, ge=30, le=86_400)
    admin: FirstAdmin | None = None


class UpdatePlan(WireModel):
    plan: Plan


class CreateStaff(WireModel):
    email: Email
    name: Name
    password: Password
    phone: Phone | None = None
    role: Literal["staff", "tenant_admin"] = "staff"
    language: Language = "en"


class StaffAssignments(WireModel):
    resource_ids: list[UUID] = Field(max_length=1000)


# -- answers ---------------------------------------------------------------------------------

TenantStatus = Literal["active", "suspended"]


class TenantView(WireModel):
    """A tenant as the platform operators see it."""

    tenant_id: UUID
    slug: str
    name: str
    kind: TenantKind
    timezone: str
    status: TenantStatus
    plan: Plan
    settings: dict[str, Any] = Field(
        description="per-tenant knobs: hold_ttl_secs, payment_routing and later ones"
    )
    created_at: datetime
    admin_user_id: UUID | None = Field(
        default=None, description="only on creation, when a first admin was created"
    )


class TenantList(WireModel):
    tenants: list[TenantView]
    limit: int
    offset: int


class StaffCreated(WireModel):
    user_id: UUID
    email: str
    name: str
    role: Literal["staff", "tenant_admin"]


class StaffMember(WireModel):
    user_id: UUID
    email: str
    phone: str | None
    name: str
    role: Literal["staff", "tenant_admin"]
    resource_ids: list[UUID] = Field(description="resources assigned to this staff member")


class StaffList(WireModel):
    staff: list[StaffMember]


class StaffAssignmentsView(WireModel):
    user_id: UUID
    resource_ids: list[UUID]


class AuditEntry(WireModel):
    id: int
    tenant_id: UUID | None
    actor_user_id: UUID | None
    actor_role: str | None
    action: str = Field(description="e.g. tenant.created, staff.assigned")
    entity: str | None
    subject_id: UUID | None
    data: dict[str, Any]
    before: Any = Field(description="the entity's state before the change, when recorded")
    after: Any = Field(description="the entity's state after the change, when recorded")
    ip: str | None
    user_agent: str | None
    request_id: str | None
    at: datetime


class AuditPage(WireModel):
    entries: list[AuditEntry] = Field(description="newest first")
    next_before_id: int | None = Field(
        description="pass as before_id for the next page; null on the last page"
    )
