"""The astrology platform's services, built after the hub's own (``hub/app.py``'s
``_services``) from what it made: consultations (settings, meetings, paid reschedules),
report orders, remedies."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from hub import keys
from hub.consultations import ConsultationService
from hub.remedies import RemedyService
from hub.report_orders import ReportOrderService

CONSULTATIONS = web.AppKey("consultations", ConsultationService)
REPORT_ORDERS = web.AppKey("report_orders", ReportOrderService)
REMEDIES = web.AppKey("remedies", RemedyService)


async def astrology_services(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context appended after the hub's services (it reads their keys)."""
    settings = app[keys.SETTINGS]
    db = app[keys.DB]
    app[CONSULTATIONS] = ConsultationService(
        db=db, holds=app[keys.HOLDS], wallets=app[keys.WALLETS]
    )
    app[REPORT_ORDERS] = ReportOrderService(
        db=db,
        wallets=app[keys.WALLETS],
        store=app[keys.FILE_STORE],
        reports=app[keys.REPORTS],
        upload_expiry_secs=settings.files_upload_expiry_secs,
        download_expiry_secs=settings.files_download_expiry_secs,
    )
    app[REMEDIES] = RemedyService(db=db)
    yield
