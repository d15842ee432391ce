"""Wallets, two-phase wallet holds and messaging credits over REST."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from actors.ledger import PostSpec, VoidSpec
from hub import keys
from hub.api_spec import api
from hub.auth import Principal
from hub.guard import principal_of, requires
from hub.requests import audit_context
from hub.restkit import idempotency_key, json_body, json_response, path_uuid, query_int
from hub.wallets import transfer_view, wallet_view
from protocols.api_responses import CreditProfit, LedgerPage, TransferList, WalletList
from protocols.errors import Invalid, NotFound
from protocols.permissions import Perm
from protocols.wallets import (
    AllocateCredits,
    CreateWalletHold,
    DeductCredits,
    PostWalletHold,
    PurchaseCredits,
    TransferView,
    VoidWalletHold,
    WalletView,
)
from storage import audit
from storage.ledger_records import TransferRecord

routes = web.RouteTableDef()


def _transfer_id(request: web.Request, principal: Principal, body_id: str | None) -> str:
    """Client ids are namespaced by tenant (or the platform), so tenants cannot collide."""
    key = idempotency_key(request, body_id, field="transfer_id")
    return f"{principal.tenant_id or 'platform'}:{key}"


def _transfers(records: tuple[TransferRecord, ...]) -> web.Response:
    return web.json_response(
        {"transfers": [transfer_view(r).model_dump(mode="json") for r in records]}, status=201
    )


@routes.get("/api/v1/wallets/me")
@api("The caller's wallets", tags="wallets", response=WalletList)
@requires(Perm.WALLET_READ_OWN)
async def my_wallets(request: web.Request) -> web.Response:
    views = await request.app[keys.WALLETS].my_wallets(principal_of(request))
    return web.json_response({"wallets": [v.model_dump(mode="json") for v in views]})


@routes.get("/api/v1/wallets/{wallet_id}")
@api("Get wallet", tags="wallets", response=WalletView)
@requires(Perm.WALLET_READ_OWN)
async def get_wallet(request: web.Request) -> web.Response:
    account = await request.app[keys.WALLETS].wallet(
        principal_of(request), path_uuid(request, "wallet_id")
    )
    return json_response(wallet_view(account))


@routes.get("/api/v1/wallets/{wallet_id}/ledger")
@api(
    "A wallet's ledger entries, newest first",
    tags="wallets",
    query={"cursor": "integer", "limit": "integer"},
    response=LedgerPage,
)
@requires(Perm.WALLET_READ_OWN)
async def wallet_ledger(request: web.Request) -> web.Response:
    cursor = query_int(request, "cursor", default=0, low=0, high=2**62) or None
    limit = query_int(request, "limit", default=50, low=1, high=500)
    page = await request.app[keys.WALLETS].ledger(
        principal_of(request), path_uuid(request, "wallet_id"), cursor, limit
    )
    return web.json_response(page)


@routes.post("/api/v1/wallets/{wallet_id}/holds")
@api(
    "Create wallet hold",
    tags="wallets",
    body=CreateWalletHold,
    response=TransferView,
    status=201,
    idempotency=True,
)
@requires(Perm.WALLET_HOLD)
async def create_wallet_hold(request: web.Request) -> web.Response:
    principal = principal_of(request)
    service = request.app[keys.WALLETS]
    body = await json_body(request, CreateWalletHold)
    wallet = await service.wallet_for_staff(principal, path_uuid(request, "wallet_id"))
    record = await service.hold(
        wallet,
        amount=body.amount,
        timeout_secs=body.timeout_secs,
        transfer_id=_transfer_id(request, principal, body.transfer_id),
        code=body.code,
    )
    return json_response(transfer_view(record), status=201)


async def _resolve_hold(request: web.Request, action: str) -> web.Response:
    principal = principal_of(request)
    service = request.app[keys.WALLETS]
    pending_id = request.match_info["pending_id"]
    if len(pending_id) > 200:
        raise Invalid("pending id is too long")
    if action == "post":
        body: Any = await json_body(request, PostWalletHold)
        spec: Any = PostSpec(
            _transfer_id(request, principal, body.transfer_id), pending_id, body.amount
        )
    else:
        body = await json_body(request, VoidWalletHold)
        spec = VoidSpec(_transfer_id(request, principal, body.transfer_id), pending_id)
    if principal.tenant_id is not None and not pending_id.startswith(f"{principal.tenant_id}:"):
        # Holds are named in their tenant's namespace: another tenant's hold is not found.
        raise NotFound("no such pending transfer", {"pending_id": pending_id})
    [record] = await service.apply((spec,))
    return json_response(transfer_view(record))


@routes.post("/api/v1/wallet-holds/{pending_id}/post")
@api(
    "Post wallet hold", tags="wallets", body=PostWalletHold, response=TransferView, idempotency=True
)
@requires(Perm.WALLET_HOLD)
async def post_wallet_hold(request: web.Request) -> web.Response:
    return await _resolve_hold(request, "post")


@routes.post("/api/v1/wallet-holds/{pending_id}/void")
@api(
    "Void wallet hold", tags="wallets", body=VoidWalletHold, response=TransferView, idempotency=True
)
@requires(Perm.WALLET_HOLD)
async def void_wallet_hold(request: web.Request) -> web.Response:
    return await _resolve_hold(request, "void")


@routes.post("/api/v1/admin/credits/purchase")
@api(
    "Purchase credits",
    tags="wallets",
    body=PurchaseCredits,
    response=TransferList,
    status=201,
    idempotency=True,
)
@requires(Perm.CREDITS_ALLOCATE)
async def purchase_credits(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await json_body(request, PurchaseCredits)
    records = await request.app[keys.WALLETS].purchase_credits(
        channel=body.channel,
        units=body.units,
        rate_paise=body.wholesale_rate_paise,
        vendor=body.vendor,
        transfer_id=_transfer_id(request, principal, body.transfer_id),
    )
    await _audit(request, "credits.purchased", None, body.model_dump(mode="json"))
    return _transfers(records)


@routes.post("/api/v1/admin/credits/allocate")
@api(
    "Allocate credits",
    tags="wallets",
    body=AllocateCredits,
    response=TransferList,
    status=201,
    idempotency=True,
)
@requires(Perm.CREDITS_ALLOCATE)
async def allocate_credits(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await json_body(request, AllocateCredits)
    records = await request.app[keys.WALLETS].allocate_credits(
        tenant_id=body.tenant_id,
        channel=body.channel,
        units=body.units,
        rate_paise=body.retail_rate_paise,
        transfer_id=_transfer_id(request, principal, body.transfer_id),
        low_balance_threshold=body.low_balance_threshold,
    )
    await _audit(request, "credits.allocated", body.tenant_id, body.model_dump(mode="json"))
    return _transfers(records)


@routes.post("/api/v1/credits/deduct")
@api(
    "Deduct credits",
    tags="wallets",
    body=DeductCredits,
    response=TransferView,
    status=201,
    idempotency=True,
)
@requires(Perm.CREDITS_DEDUCT)
async def deduct_credits(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await json_body(request, DeductCredits)
    record = await request.app[keys.WALLETS].deduct_credits(
        tenant_id=body.tenant_id,
        channel=body.channel,
        units=body.units,
        transfer_id=_transfer_id(request, principal, body.transfer_id),
    )
    return json_response(transfer_view(record), status=201)


@routes.get("/api/v1/admin/credits/wallets")
@api("Tenants' messaging-credit wallets", tags="wallets", response=WalletList)
@requires(Perm.CREDITS_ALLOCATE)
async def credit_wallets(request: web.Request) -> web.Response:
    views = await request.app[keys.WALLETS].credit_wallets()
    return web.json_response({"wallets": [v.model_dump(mode="json") for v in views]})


@routes.get("/api/v1/admin/credits/profit")
@api(
    "Messaging credits: units, cost, revenue and margin per channel",
    tags="wallets",
    response=CreditProfit,
)
@requires(Perm.CREDITS_ALLOCATE)
async def credit_profit(request: web.Request) -> web.Response:
    return web.json_response(await request.app[keys.WALLETS].credit_profit())


async def _audit(request: web.Request, action: str, tenant_id: UUID | None, after: Any) -> None:
    async with request.app[keys.DB].acquire() as conn:
        await audit.record(
            conn,
            audit_context(request),
            tenant_id=tenant_id,
            action=action,
            entity="ledger",
            entity_id=None,
            after=after,
        )
