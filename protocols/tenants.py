"""Platform administration of tenants, staff accounts, and the audit log."""

from __future__ import annotations

from typing import Annotated, Literal
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
