"""The padel platform's services, built after the hub's own (``hub/app.py``): split payments
with their sweeper, the venue room and open matches, and their Socket.IO events
(``venue:subscribe``, ``court:status``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hub import keys
from hub.auth import Principal
from hub.open_matches import OpenMatches
from hub.split_refunds import SplitRefunds
from hub.splits import SplitPayments
from hub.venues import VenueService
from protocols.padel import SetCourtStatus, SubscribeVenue

SPLITS = web.AppKey("splits", SplitPayments)
VENUES = web.AppKey("venues", VenueService)
OPEN_MATCHES = web.AppKey("open_matches", OpenMatches)


async def padel_context(app: web.Application) -> AsyncIterator[None]:
    db, sio = app[keys.DB], app[keys.SIO]
    payments = app[keys.PAYMENTS]
    splits = SplitPayments(
        db=db,
        shards=app[keys.SHARDS],
        wallets=app[keys.WALLETS],
        payments=payments,
        sweep_every_secs=app[keys.SETTINGS].split_sweep_secs,
    )
    payments.split_share_captured = splits.on_share_captured
    split_refunds = SplitRefunds(
        db=db,
        wallets=app[keys.WALLETS],
        payments=payments,
        sweep_every_secs=app[keys.SETTINGS].split_sweep_secs,
    )
    app[keys.BOOKINGS].split_refunds = split_refunds
    venues = VenueService(db=db, sio=sio)

    async def subscribe(sid: str, principal: Principal, request: SubscribeVenue) -> Any:
        return await venues.subscribe(sid, principal, request)

    async def set_status(sid: str, principal: Principal, request: SetCourtStatus) -> Any:
        return await venues.set_status(principal, request)

    gateway = app[keys.SOCKETS]
    gateway.handle("venue:subscribe", SubscribeVenue, subscribe)
    gateway.handle("court:status", SetCourtStatus, set_status)
    app[SPLITS] = splits
    app[VENUES] = venues
    app[OPEN_MATCHES] = OpenMatches(db=db)
    await splits.start()
    await split_refunds.start()
    try:
        yield
    finally:
        await split_refunds.stop()
        await splits.stop()
        payments.split_share_captured = None
        app[keys.BOOKINGS].split_refunds = None
