"""Roles and what they may do. Every REST route and Socket.IO event names one permission
(``hub/guard.py`` enforces it; a test walks every route and event to prove none is missing).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    STAFF = "staff"
    TENANT_ADMIN = "tenant_admin"
    PLATFORM_ADMIN = "platform_admin"


class Perm(StrEnum):
    # Special: no token needed / any valid token.
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    AVAILABILITY_READ = "availability:read"
    BOOKINGS_CREATE = "bookings:create"
    BOOKINGS_READ_OWN = "bookings:read:own"
    BOOKINGS_READ_TENANT = "bookings:read:tenant"
    BOOKINGS_MANAGE = "bookings:manage"
    LIVE_PUSH = "live:push"
    CATALOG_READ = "catalog:read"
    CATALOG_WRITE = "catalog:write"
    STAFF_MANAGE = "staff:manage"
    WALLET_READ_OWN = "wallet:read:own"
    CREDITS_ALLOCATE = "credits:allocate"
    CREDITS_DEDUCT = "credits:deduct"
    WALLET_HOLD = "wallet:hold"
    PAYMENTS_REFUND = "payments:refund"
    TENANTS_MANAGE = "tenants:manage"
    AUDIT_READ = "audit:read"
    NOTIFICATIONS_SEND = "notifications:send"
    REMINDERS_PLAN = "reminders:plan"
    DELIVERIES_MANAGE = "deliveries:manage"


_USER = frozenset(
    {
        Perm.AVAILABILITY_READ,
        Perm.BOOKINGS_CREATE,
        Perm.BOOKINGS_READ_OWN,
        Perm.CATALOG_READ,
        Perm.WALLET_READ_OWN,
    }
)
_STAFF = _USER | {Perm.BOOKINGS_READ_TENANT, Perm.LIVE_PUSH, Perm.REMINDERS_PLAN}
_TENANT_ADMIN = _STAFF | {
    Perm.BOOKINGS_MANAGE,
    Perm.WALLET_HOLD,
    Perm.CATALOG_WRITE,
    Perm.STAFF_MANAGE,
    Perm.PAYMENTS_REFUND,
    Perm.AUDIT_READ,
    Perm.NOTIFICATIONS_SEND,
    Perm.DELIVERIES_MANAGE,
}
_PLATFORM_ADMIN = _TENANT_ADMIN | {
    Perm.TENANTS_MANAGE,
    Perm.CREDITS_ALLOCATE,
    Perm.CREDITS_DEDUCT,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.USER: _USER,
    Role.STAFF: frozenset(_STAFF),
    Role.TENANT_ADMIN: frozenset(_TENANT_ADMIN),
    Role.PLATFORM_ADMIN: frozenset(_PLATFORM_ADMIN),
}

STAFF_ROLES = frozenset({Role.STAFF, Role.TENANT_ADMIN})


def permissions_of(role: str) -> frozenset[Perm]:
    return ROLE_PERMISSIONS[Role(role)]
