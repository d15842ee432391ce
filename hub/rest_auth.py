"""Accounts over REST: register, login (throttled), refresh (rotating), logout, me."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.guard import principal_of, requires
from hub.requests import audit_context, client_ip
from hub.restkit import json_body, json_response
from protocols.auth import (
    LoginRequest,
    MeView,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UpdateMe,
)
from protocols.errors import NotFound, RateLimited, TenantSuspended, Unauthorized
from protocols.permissions import Perm, permissions_of
from storage import audit, sessions, throttle, users
from storage.control import tenant_status
from storage.tenancy import tenant_scope
from storage.users import UserRecord

routes = web.RouteTableDef()


async def _tokens_for(request: web.Request, user: UserRecord) -> TokenResponse:
    """A fresh refresh-token family and an access token bound to it."""
    settings = request.app[keys.SETTINGS]
    ttl = timedelta(seconds=settings.refresh_token_ttl_secs)
    async with request.app[keys.DB].acquire() as conn:
        issued = await sessions.issue_refresh(
            conn, user_id=user.user_id, tenant_id=user.tenant_id, ttl=ttl
        )
    return _token_response(request, user, issued)


def _token_response(
    request: web.Request, user: UserRecord, issued: sessions.IssuedRefresh
) -> TokenResponse:
    tokens = request.app[keys.TOKENS]
    access = tokens.issue(
        user_id=user.user_id, tenant_id=user.tenant_id, role=user.role, family_id=issued.family_id
    )
    return TokenResponse(
        access_token=access,
        expires_in=tokens.ttl_secs,
        refresh_token=issued.token,
        refresh_expires_in=request.app[keys.SETTINGS].refresh_token_ttl_secs,
    )


async def _check_tenant_active(request: web.Request, user: UserRecord) -> None:
    if user.tenant_id is None:
        return
    async with request.app[keys.DB].acquire() as conn:
        status = await tenant_status(conn, tenant_id=user.tenant_id)
    if status != "active":
        raise TenantSuspended("this tenant is suspended")


@routes.post("/api/v1/auth/register")
@api(
    "Register a user and get tokens",
    tags="auth",
    body=RegisterRequest,
    response=TokenResponse,
    status=201,
    errors=("tenant_suspended",),
)
@requires(Perm.PUBLIC)
async def register(request: web.Request) -> web.Response:
    body = await json_body(request, RegisterRequest)
    password_hash = await request.app[keys.PASSWORDS].hash_async(body.password)
    async with request.app[keys.DB].acquire() as conn:
        status = await tenant_status(conn, tenant_id=body.tenant_id)
    if status is None:
        raise NotFound("no such tenant", {"tenant_id": str(body.tenant_id)})
    if status != "active":
        raise TenantSuspended("this tenant is suspended")
    async with tenant_scope(request.app[keys.DB], body.tenant_id) as conn:
        user = await users.create_user(
            conn,
            tenant_id=body.tenant_id,
            email=body.email,
            phone=body.phone,
            name=body.name,
            role="user",
            language=body.language,
            password_hash=password_hash,
        )
    return json_response(await _tokens_for(request, user), status=201)


@routes.post("/api/v1/auth/login")
@api(
    "Log in and get tokens",
    tags="auth",
    body=LoginRequest,
    response=TokenResponse,
    errors=("rate_limited", "tenant_suspended"),
)
@requires(Perm.PUBLIC)
async def login(request: web.Request) -> web.Response:
    body = await json_body(request, LoginRequest)
    settings = request.app[keys.SETTINGS]
    window = timedelta(seconds=settings.login_window_secs)
    identifier = (body.email or body.phone or "").lower()
    account_key, ip_key = f"account:{identifier}", f"ip:{client_ip(request)}"
    db = request.app[keys.DB]
    async with db.acquire() as conn:
        wait = await throttle.retry_after(
            conn,
            keys=[account_key, ip_key],
            max_failures=settings.login_max_failures,
            window=window,
        )
        if wait is not None:
            raise RateLimited(
                "too many failed logins; try again later", {"retry_after_secs": round(wait)}
            )
        user = await users.find_user_for_login(conn, email=body.email, phone=body.phone)
    ok = await request.app[keys.PASSWORDS].verify(
        user.password_hash if user else None, body.password
    )
    if user is None or not ok:
        async with db.acquire() as conn, conn.transaction():
            await throttle.record_failure(conn, keys=[account_key, ip_key], window=window)
            await audit.record(
                conn,
                audit_context(request),
                tenant_id=user.tenant_id if user else None,
                action="auth.login_failed",
                entity="user",
                entity_id=user.user_id if user else None,
                after={"identifier": _masked(identifier)},
            )
        raise Unauthorized("email/phone or password is wrong")
    await _check_tenant_active(request, user)
    async with db.acquire() as conn:
        await throttle.clear_failures(conn, key=account_key)
    return json_response(await _tokens_for(request, user))


def _masked(identifier: str) -> str:
    """Enough to recognise an account in the audit log, not enough to harvest it."""
    if "@" in identifier:
        name, _, domain = identifier.partition("@")
        return f"{name[:2]}***@{domain}"
    return f"{identifier[:3]}*****{identifier[-2:]}"


@routes.post("/api/v1/auth/refresh")
@api(
    "Rotate a refresh token for fresh tokens",
    tags="auth",
    body=RefreshRequest,
    response=TokenResponse,
    errors=("tenant_suspended",),
)
@requires(Perm.PUBLIC)
async def refresh(request: web.Request) -> web.Response:
    body = await json_body(request, RefreshRequest)
    settings = request.app[keys.SETTINGS]
    ttl = timedelta(seconds=settings.refresh_token_ttl_secs)
    async with request.app[keys.DB].acquire() as conn:
        rotation = await sessions.rotate_refresh(conn, token=body.refresh_token, ttl=ttl)
        user = (
            await users.get_user(conn, tenant_id=rotation.tenant_id, user_id=rotation.user_id)
            if rotation.user_id
            else None
        )
    if rotation.outcome is sessions.RotationOutcome.REUSED:
        raise Unauthorized(
            "refresh token was already used; every session of this login is revoked",
            {"reason": "refresh_token_reused"},
        )
    if rotation.outcome is not sessions.RotationOutcome.ROTATED or user is None:
        raise Unauthorized("refresh token is not valid", {"reason": str(rotation.outcome)})
    assert rotation.issued is not None
    await _check_tenant_active(request, user)
    return json_response(_token_response(request, user, rotation.issued))


@routes.post("/api/v1/auth/logout")
@api("Revoke a refresh token's session family", tags="auth", body=RefreshRequest, status=204)
@requires(Perm.PUBLIC)
async def logout(request: web.Request) -> web.Response:
    body = await json_body(request, RefreshRequest)
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        found = await sessions.family_of(conn, token=body.refresh_token)
        if found is not None:
            family_id, user_id = found
            await sessions.revoke_family(
                conn, family_id=family_id, user_id=user_id, reason="logout"
            )
    if found is not None:
        request.app[keys.SESSIONS].remember_revoked(found[0])
    return web.Response(status=204)


def _me(user: UserRecord) -> MeView:
    return MeView(
        user_id=user.user_id,
        tenant_id=user.tenant_id,
        email=user.email,
        phone=user.phone,
        name=user.name,
        role=user.role,
        language=user.language,
        permissions=sorted(permissions_of(user.role)),
    )


@routes.get("/api/v1/me")
@api("The caller's profile", tags="auth", response=MeView)
@requires(Perm.AUTHENTICATED)
async def get_me(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[keys.DB].acquire() as conn:
        user = await users.get_user(conn, tenant_id=principal.tenant_id, user_id=principal.user_id)
    if user is None:
        raise NotFound("no such user")
    return json_response(_me(user))


@routes.put("/api/v1/me")
@api("Update the caller's profile", tags="auth", body=UpdateMe, response=MeView)
@requires(Perm.AUTHENTICATED)
async def put_me(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await json_body(request, UpdateMe)
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    async with request.app[keys.DB].acquire() as conn:
        user = await users.update_profile(
            conn,
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            name=changes.get("name"),
            language=changes.get("language"),
            phone=changes.get("phone"),
            email=changes.get("email"),
        )
    if user is None:
        raise NotFound("no such user")
    return json_response(_me(user))
