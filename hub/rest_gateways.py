"""Platform operators configure tenants' payment gateway accounts.

Platform-only for now (``tenants:manage``): a tenant admin cannot read or change their own
tenant's gateway accounts yet. Secrets are accepted, sealed (``protocols/secretbox.py``) and
never answered or audited: a configuration comes back with ``webhook_secrets`` as a count.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.guard import requires
from hub.requests import audit_context
from hub.restkit import json_body, json_response, path_uuid
from protocols.errors import Invalid, NotFound
from protocols.gateway_config import (
    GATEWAY_NAMES,
    ConfigureGateway,
    GatewayConfigList,
    GatewayConfigView,
    PaymentRouting,
    PaymentRoutingView,
)
from protocols.gateways.fees import DEFAULT_SCHEDULES
from protocols.permissions import Perm
from storage import audit, tenants
from storage import gateway_credentials as store

routes = web.RouteTableDef()


def _gateway(request: web.Request) -> str:
    name = request.match_info["gateway"]
    if name not in GATEWAY_NAMES:
        raise Invalid(
            f"gateway must be one of {', '.join(GATEWAY_NAMES)}", {"loc": ["path", "gateway"]}
        )
    return name


def _view(config: store.GatewayConfig) -> GatewayConfigView:
    return GatewayConfigView.model_validate(asdict(config))


def _audited(config: store.GatewayConfig | None) -> dict[str, Any] | None:
    """What the audit log keeps of a configuration: everything but ``updated_at`` (and never a
    secret, which the configuration does not carry)."""
    if config is None:
        return None
    return _view(config).model_dump(mode="json", exclude={"updated_at"})


@routes.put("/api/v1/admin/tenants/{tenant_id}/gateways/{gateway}")
@api("Configure gateway", tags="gateways", body=ConfigureGateway, response=GatewayConfigView)
@requires(Perm.TENANTS_MANAGE)
async def configure_gateway(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id")
    gateway = _gateway(request)
    body = await json_body(request, ConfigureGateway)
    box = request.app[keys.GATEWAYS].secret_box()
    fees = DEFAULT_SCHEDULES[gateway]
    percent_bp = body.fee_percent_bp if body.fee_percent_bp is not None else fees.percent_bp
    fixed_paise = body.fee_fixed_paise if body.fee_fixed_paise is not None else fees.fixed_paise
    priority = body.priority if body.priority is not None else store.default_priority(gateway)
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        if await tenants.get_tenant(conn, tenant_id=tenant_id) is None:
            raise NotFound("no such tenant")
        before = await store.get_config(conn, tenant_id=tenant_id, gateway=gateway)
        after = await store.upsert_gateway(
            conn,
            box,
            tenant_id=tenant_id,
            gateway=gateway,
            key_id=body.key_id,
            key_secret=body.key_secret,
            webhook_secrets=body.webhook_secrets,
            base_url=body.base_url,
            fee_percent_bp=percent_bp,
            fee_fixed_paise=fixed_paise,
            priority=priority,
            enabled=body.enabled,
        )
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="tenant.gateway_configured",
            entity="tenant_gateway",
            entity_id=tenant_id,
            before=_audited(before),
            after=_audited(after),
        )
    return json_response(_view(after))


@routes.get("/api/v1/admin/tenants/{tenant_id}/gateways")
@api("List gateways", tags="gateways", response=GatewayConfigList)
@requires(Perm.TENANTS_MANAGE)
async def list_gateways(request: web.Request) -> web.Response:
    tenant_id = path_uuid(request, "tenant_id")
    async with request.app[keys.DB].acquire() as conn:
        if await tenants.get_tenant(conn, tenant_id=tenant_id) is None:
            raise NotFound("no such tenant")
        configs = await store.list_configs(conn, tenant_id=tenant_id)
    return web.json_response(
        {"gateways": [_view(config).model_dump(mode="json") for config in configs]}
    )


@routes.put("/api/v1/admin/tenants/{tenant_id}/payment-routing")
@api("Set payment routing", tags="gateways", body=PaymentRouting, response=PaymentRoutingView)
@requires(Perm.TENANTS_MANAGE)
async def set_payment_routing(request: web.Request) -> web.Response:
    """Pin a gateway or split traffic by percentage; ``{"mode": "cheapest"}`` undoes it."""
    tenant_id = path_uuid(request, "tenant_id")
    body = await json_body(request, PaymentRouting)
    routing = body.model_dump(mode="json", exclude_none=True)
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        before = await tenants.payment_routing(conn, tenant_id=tenant_id)
        if not await tenants.set_payment_routing(conn, tenant_id=tenant_id, routing=routing):
            raise NotFound("no such tenant")
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action="tenant.payment_routing_changed",
            entity="tenant",
            entity_id=tenant_id,
            before=before,
            after=routing,
        )
    return web.json_response({"tenant_id": str(tenant_id), "payment_routing": routing})
