"""REST of the devotional platform: puja and yatra bookings (linked hold groups), waiting
lists, the pandit's bookings and earnings, and the platform's commission per tenant.

The services are built by :func:`devotional_context` once the hub's own services run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID

from aiohttp import web

from hub import keys
from hub.api_spec import api
from hub.devotional import DevotionalBookings
from hub.group_payments import GroupPayments
from hub.guard import principal_of, requires
from hub.pandit_earnings import PanditEarnings
from hub.rest_admin import acting_tenant
from hub.restkit import json_body, path_uuid, query_int
from hub.waitlist import Waitlist
from protocols.devotional import (
    AssignedBookings,
    BookPuja,
    BookYatra,
    CommissionView,
    GroupBooking,
    GroupPaid,
    JoinWaitlist,
    PayGroup,
    SetCommission,
    StaffEarnings,
    WaitlistEntryView,
)
from protocols.errors import Invalid, NotFound
from protocols.permissions import Perm

DEVOTIONAL = web.AppKey("devotional", DevotionalBookings)
WAITLIST = web.AppKey("waitlist", Waitlist)
EARNINGS = web.AppKey("pandit_earnings", PanditEarnings)
GROUP_PAYMENTS = web.AppKey("devotional_group_payments", GroupPayments)

routes = web.RouteTableDef()


async def devotional_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: after the hub's services (it uses their pool, shards and wallets)."""
    settings = app[keys.SETTINGS]
    db = app[keys.DB]
    app[DEVOTIONAL] = DevotionalBookings(
        db=db, shards=app[keys.SHARDS], hold_payments=app[keys.HOLD_PAYMENTS]
    )
    waitlist = Waitlist(
        db=db,
        shards=app[keys.SHARDS],
        offer_ttl_secs=settings.waitlist_offer_ttl_secs,
        poll_secs=settings.waitlist_poll_secs,
    )
    earnings = PanditEarnings(
        db=db, wallets=app[keys.WALLETS], poll_secs=settings.earnings_poll_secs
    )
    group_payments = GroupPayments(
        db=db, shards=app[keys.SHARDS], wallets=app[keys.WALLETS], payments=app[keys.PAYMENTS]
    )
    app[WAITLIST] = waitlist
    app[EARNINGS] = earnings
    app[GROUP_PAYMENTS] = group_payments
    app[keys.PAYMENTS].booking_group_captured = group_payments.on_captured
    await waitlist.start()
    await earnings.start()
    await group_payments.start()
    try:
        yield
    finally:
        app[keys.PAYMENTS].booking_group_captured = None
        await group_payments.stop()
        await earnings.stop()
        await waitlist.stop()


# -- bookings ----------------------------------------------------------------------------------


@routes.post("/api/v1/devotional/bookings")
@api(
    "Book puja",
    tags="devotional",
    body=BookPuja,
    response=GroupBooking,
    status=201,
    also=(200,),
)
@requires(Perm.BOOKINGS_CREATE)
async def book_puja(request: web.Request) -> web.Response:
    body = await json_body(request, BookPuja)
    view, created = await request.app[DEVOTIONAL].book_puja(principal_of(request), body)
    return web.json_response(view, status=201 if created else 200)


@routes.post("/api/v1/devotional/yatra-bookings")
@api(
    "Book yatra",
    tags="devotional",
    body=BookYatra,
    response=GroupBooking,
    status=201,
    also=(200,),
)
@requires(Perm.BOOKINGS_CREATE)
async def book_yatra(request: web.Request) -> web.Response:
    body = await json_body(request, BookYatra)
    view, created = await request.app[DEVOTIONAL].book_yatra(principal_of(request), body)
    return web.json_response(view, status=201 if created else 200)


@routes.get("/api/v1/devotional/bookings/{group_id}")
@api("A puja or yatra group booking", tags="devotional", response=GroupBooking)
@requires(Perm.BOOKINGS_READ_OWN)
async def get_group(request: web.Request) -> web.Response:
    view = await request.app[DEVOTIONAL].view(principal_of(request), path_uuid(request, "group_id"))
    return web.json_response(view)


@routes.post("/api/v1/devotional/bookings/{group_id}/pay-from-wallet")
@api("Pay a group booking from the wallet", tags="devotional", response=GroupBooking)
@requires(Perm.BOOKINGS_CREATE)
async def pay_group(request: web.Request) -> web.Response:
    view = await request.app[DEVOTIONAL].pay_from_wallet(
        principal_of(request), path_uuid(request, "group_id")
    )
    return web.json_response(view)


@routes.post("/api/v1/devotional/bookings/{group_id}/pay")
@api(
    "Pay the whole group at once (wallet or gateway)",
    tags="devotional",
    body=PayGroup,
    response=GroupPaid,
)
@requires(Perm.BOOKINGS_CREATE)
async def pay_whole_group(request: web.Request) -> web.Response:
    body = await json_body(request, PayGroup)
    result = await request.app[GROUP_PAYMENTS].pay(
        principal_of(request), path_uuid(request, "group_id"), body
    )
    return web.json_response(result)


@routes.delete("/api/v1/devotional/bookings/{group_id}")
@api("Release a group booking's holds", tags="devotional", response=GroupBooking)
@requires(Perm.BOOKINGS_CREATE)
async def release_group(request: web.Request) -> web.Response:
    view = await request.app[DEVOTIONAL].release(
        principal_of(request), path_uuid(request, "group_id")
    )
    return web.json_response(view)


# -- waiting lists -----------------------------------------------------------------------------


@routes.post("/api/v1/slots/{slot_id}/waitlist")
@api(
    "Join waitlist",
    tags="devotional",
    body=JoinWaitlist,
    response=WaitlistEntryView,
    status=201,
    also=(200,),
)
@requires(Perm.BOOKINGS_CREATE)
async def join_waitlist(request: web.Request) -> web.Response:
    body = await json_body(request, JoinWaitlist)
    view, created = await request.app[WAITLIST].join(
        principal_of(request), path_uuid(request, "slot_id"), body
    )
    return web.json_response(view, status=201 if created else 200)


@routes.get("/api/v1/waitlist/{entry_id}")
@api("Get waitlist entry", tags="devotional", response=WaitlistEntryView)
@requires(Perm.BOOKINGS_READ_OWN)
async def get_waitlist_entry(request: web.Request) -> web.Response:
    view = await request.app[WAITLIST].get(principal_of(request), path_uuid(request, "entry_id"))
    return web.json_response(view)


@routes.delete("/api/v1/waitlist/{entry_id}")
@api("Leave waitlist", tags="devotional", response=WaitlistEntryView)
@requires(Perm.BOOKINGS_CREATE)
async def leave_waitlist(request: web.Request) -> web.Response:
    view = await request.app[WAITLIST].leave(principal_of(request), path_uuid(request, "entry_id"))
    return web.json_response(view)


# -- pandits -----------------------------------------------------------------------------------


def _query_uuid(request: web.Request, name: str) -> UUID | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError as exc:
        raise Invalid(f"{name} is not a UUID", {"loc": ["query", name]}) from exc


def _query_date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"{name} is not a date (YYYY-MM-DD)", {"loc": ["query", name]}) from exc


@routes.get("/api/v1/staff/bookings")
@api(
    "Bookings of the tenant's staff",
    tags="devotional",
    query={"limit": "integer", "staff_user_id": "uuid", "from": "date", "tenant_id": "uuid"},
    response=AssignedBookings,
)
@requires(Perm.BOOKINGS_READ_TENANT)
async def staff_bookings(request: web.Request) -> web.Response:
    principal = principal_of(request)
    result = await request.app[EARNINGS].assigned(
        principal,
        acting_tenant(request, principal),
        _query_uuid(request, "staff_user_id"),
        _query_date(request, "from"),
        query_int(request, "limit", default=100, low=1, high=500),
    )
    return web.json_response(result)


@routes.get("/api/v1/staff/earnings")
@api(
    "Staff earnings",
    tags="devotional",
    query={"limit": "integer", "staff_user_id": "uuid", "tenant_id": "uuid"},
    response=StaffEarnings,
)
@requires(Perm.BOOKINGS_READ_TENANT)
async def staff_earnings(request: web.Request) -> web.Response:
    principal = principal_of(request)
    result = await request.app[EARNINGS].earnings(
        principal,
        acting_tenant(request, principal),
        _query_uuid(request, "staff_user_id"),
        query_int(request, "limit", default=50, low=1, high=500),
    )
    return web.json_response(result)


@routes.put("/api/v1/admin/tenants/{tenant_id}/commission")
@api("Set a tenant's commission", tags="devotional", body=SetCommission, response=CommissionView)
@requires(Perm.TENANTS_MANAGE)
async def set_commission(request: web.Request) -> web.Response:
    body = await json_body(request, SetCommission)
    tenant_id = path_uuid(request, "tenant_id")
    result = await request.app[EARNINGS].set_commission(tenant_id, body.commission_bp)
    if result is None:
        raise NotFound("no such tenant", {"tenant_id": str(tenant_id)})
    return web.json_response(result)
