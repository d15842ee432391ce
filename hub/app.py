"""``create_app(settings, dsn=...)``: the hub's aiohttp application with Socket.IO attached.

Everything the app needs is built on startup by one cleanup context, in dependency order, and
torn down in reverse: database pool (and migrations), Ray shards, the availability fan-out, the
socket gateway. Nothing connects at import time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import ray
from aiohttp import web
from pydantic import SecretStr

from actors.pool import ShardPool
from actors.wallet_shard import WalletShard
from hub import (
    api_docs,
    keys,
    rest,
    rest_admin,
    rest_astrology,
    rest_auth,
    rest_catalog,
    rest_deliveries,
    rest_devotional,
    rest_files,
    rest_gateways,
    rest_library,
    rest_notifications,
    rest_padel,
    rest_panchang,
    rest_payments,
    rest_reminders,
    rest_reports,
    rest_wallets,
    web_board,
)
from hub.astrology import astrology_services
from hub.attendance import AttendanceService
from hub.attendance_qr import QrTokens, qr_signing_key
from hub.auth import Passwords, TokenIssuer
from hub.bookings import BookingCancellation
from hub.cors import CorsPolicy, cors_middleware
from hub.deliveries import DeliveryWorker
from hub.errors import error_middleware
from hub.fanout import AvailabilityFanout
from hub.feed_relay import FeedRelay
from hub.festivals import FestivalCalendar
from hub.files import file_store_context, files_signing_key
from hub.gateway_directory import GatewayDirectory
from hub.guard import guard_middleware
from hub.hold_payments import HoldPayments
from hub.holds import HoldService
from hub.inbox import Inbox
from hub.library import Library
from hub.library_events import LibraryEvents
from hub.limits import SocketLimits
from hub.live import LiveStatusService
from hub.live_events import LiveEvents
from hub.logs import log_context_middleware, log_principal_middleware
from hub.metrics import METRICS, HubMetrics
from hub.metrics import routes as metrics_routes
from hub.padel import padel_context
from hub.panchang import PanchangService, SunriseScheduler
from hub.payment_jobs import PaymentJobs
from hub.payments import PaymentService
from hub.presence import Presence
from hub.ray_runtime import ensure_ray
from hub.redis_manager import RedisFanoutManager, client_manager_context
from hub.reminders import ReminderLoop, ReminderService
from hub.reports import ReportService
from hub.requests import TRUST_FORWARDED_FOR, request_id_middleware
from hub.seat_plans import SeatPlans
from hub.sessions import SessionControl
from hub.settings import Settings
from hub.socket_server import build_socket_server
from hub.sockets import SocketGateway
from hub.streams import StreamService
from hub.students import StudentService
from hub.wallet_events import WalletEvents
from hub.wallets import WalletService
from protocols.channels.interface import build_channels
from protocols.gateways.fees import DEFAULT_SCHEDULES
from protocols.gateways.routing import GatewayRouter
from protocols.secretbox import SecretBox
from storage.migrate import apply_migrations

log = logging.getLogger(__name__)

SECRET_BOX = web.AppKey("secret_box", SecretBox)


def create_app(
    settings: Settings, *, dsn: str, secret_key: SecretStr | None = None
) -> web.Application:
    """``secret_key`` (base64 of 32 bytes) seals gateway credentials; default
    ``settings.secret_key``. Without either, none can be stored (see ``hub/cli.py`` for the
    embedded default's key file). Raises ``ValueError`` for a malformed key."""
    app = web.Application(
        middlewares=[
            cors_middleware(CorsPolicy.from_settings(settings)),
            request_id_middleware,
            log_context_middleware,
            error_middleware,
            guard_middleware,
            log_principal_middleware,
        ],
        client_max_size=settings.max_socket_payload_bytes,
    )
    app[keys.SETTINGS] = settings
    app[TRUST_FORWARDED_FOR] = settings.trust_forwarded_for
    app[keys.DSN] = dsn
    app[keys.TOKENS] = TokenIssuer(
        settings.signing_keys(),
        active_kid=settings.jwt_active_kid,
        ttl_secs=settings.access_token_ttl_secs,
    )
    app[keys.PASSWORDS] = Passwords()
    key = secret_key if secret_key is not None else settings.secret_key
    if key is not None:
        app[SECRET_BOX] = SecretBox.from_base64(key.get_secret_value())
    metrics = app[METRICS] = HubMetrics()  # this app's own registry (hub/metrics.py)
    sio = build_socket_server(settings)
    sio.on_emit = metrics.event_out
    if isinstance(sio.manager, RedisFanoutManager):
        metrics.watch_redis(sio.manager)
    sio.attach(app)
    app[keys.SIO] = sio
    # Started before, and closed after, everything in _services that emits.
    app.cleanup_ctx.append(client_manager_context(sio))
    for table in (
        rest.routes,
        metrics_routes,
        rest_auth.routes,
        rest_admin.routes,
        rest_wallets.routes,
        rest_catalog.routes,
        rest_gateways.routes,
        rest_payments.routes,
        rest_notifications.routes,
        rest_deliveries.routes,
        rest_reports.routes,
        rest_reminders.routes,
        rest_devotional.routes,
        rest_padel.routes,
        rest_astrology.routes,
        rest_library.routes,
        rest_panchang.routes,
        web_board.routes,  # / and /board/...: the live web board
    ):
        app.add_routes(table)
    if settings.s3_bucket is None:
        app.add_routes(rest_files.routes)  # the local file store's signed URLs
    api_docs.install(app)  # /api/v1/openapi.json, /api/v1/asyncapi.json, /api/docs
    app.cleanup_ctx.append(file_store_context(settings, signing_key=files_signing_key(key)))
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(rest_devotional.devotional_context)  # after _services: uses them
    app.cleanup_ctx.append(padel_context)  # after _services: it uses them
    app.cleanup_ctx.append(astrology_services)  # after _services: it reads its keys
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    dsn = app[keys.DSN]
    db = await asyncpg.create_pool(dsn, min_size=1, max_size=settings.db_pool_size)
    metrics = app[METRICS]
    metrics.watch_db(db)
    started_ray = False
    shards: ShardPool | None = None
    wallet_shards: ShardPool | None = None
    wallet_events: WalletEvents | None = None
    hold_payments: HoldPayments | None = None
    fanout: AvailabilityFanout | None = None
    sessions: SessionControl | None = None
    gateway: SocketGateway | None = None
    gateways: GatewayDirectory | None = None
    payment_jobs: PaymentJobs | None = None
    streams: StreamService | None = None
    relay: FeedRelay | None = None
    presence: Presence | None = None
    delivery_worker: DeliveryWorker | None = None
    reminder_loop: ReminderLoop | None = None
    sunrise: SunriseScheduler | None = None
    try:
        async with db.acquire() as conn:
            applied = await apply_migrations(conn)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        gateways = GatewayDirectory(db, app.get(SECRET_BOX))
        await gateways.check_stored_credentials()
        app[keys.GATEWAYS] = gateways
        started_ray = ensure_ray(settings.ray_address, namespace=settings.ray_namespace)
        shards = ShardPool(
            dsn=dsn,
            shard_count=settings.shards,
            namespace=settings.ray_namespace,
            max_batch=settings.max_batch,
            detached=settings.ray_address is not None,
            observer=metrics.actor_observer("inventory"),
            resource=settings.shard_resource,
        )
        await shards.start()
        wallet_shards = ShardPool(
            dsn=dsn,
            shard_count=settings.wallet_shards or settings.shards,
            namespace=settings.ray_namespace,
            name_prefix="seva-wallet",
            actor_cls=WalletShard,
            route=lambda command: command.wallet_id,
            max_batch=settings.max_batch,
            detached=settings.ray_address is not None,
            observer=metrics.actor_observer("wallet"),
            resource=settings.shard_resource,
        )
        await wallet_shards.start()
        wallets = WalletService(db_pool=db, wallets=wallet_shards)
        sessions = SessionControl(db=db, dsn=dsn, access_ttl_secs=settings.access_token_ttl_secs)
        await sessions.start()
        fanout = AvailabilityFanout(
            db=db,
            dsn=dsn,
            sio=app[keys.SIO],
            send_queue_max=settings.socket_send_queue_max,
            behind_resync_secs=settings.socket_behind_resync_secs,
        )
        await fanout.start()
        holds = HoldService(db=db, shards=shards)
        hold_payments = HoldPayments(db=db, shards=shards, wallets=wallets)
        await hold_payments.start()
        gateway = SocketGateway(
            app[keys.SIO],
            tokens=app[keys.TOKENS],
            sessions=sessions,
            holds=holds,
            wallets=wallets,
            hold_payments=hold_payments,
            fanout=fanout,
            limits=SocketLimits.from_settings(settings),
            check_every_secs=settings.session_check_secs,
            observe_event=metrics.event_in,
        )
        metrics.watch_sockets(app[keys.SIO], gateway.sids)
        gateway.register()
        await gateway.start()
        inbox = Inbox(db=db, sio=app[keys.SIO])
        live = LiveStatusService(db=db, sio=app[keys.SIO])
        streams = StreamService(db=db, sio=app[keys.SIO], tick_secs=settings.viewer_tick_secs)
        presence = Presence(db=db)
        LiveEvents(inbox=inbox, live=live, streams=streams, presence=presence).register(gateway)
        attendance = AttendanceService(
            db=db,
            sio=app[keys.SIO],
            qr=QrTokens(qr_signing_key(settings), ttl_secs=settings.attendance_qr_ttl_secs),
            late_after_secs=settings.library_late_after_secs,
            early_secs=settings.library_check_in_early_secs,
        )
        LibraryEvents(attendance=attendance).register(gateway)
        await streams.start()
        await presence.start()
        delivery_worker = DeliveryWorker(
            db=db,
            wallets=wallets,
            channels=build_channels(settings),
            max_attempts=settings.delivery_max_attempts,
            backoff_base_secs=settings.delivery_backoff_base_secs,
            backoff_max_secs=settings.delivery_backoff_max_secs,
            lease_secs=settings.delivery_lease_secs,
            poll_secs=settings.delivery_poll_secs,
            observe_outcome=metrics.delivery,
        )
        await delivery_worker.start()
        relay = FeedRelay(
            db=db,
            dsn=dsn,
            sio=app[keys.SIO],
            retention_secs=settings.stream_retention_secs,
            prune_every_secs=settings.retention_prune_every_secs,
            channels=delivery_worker.channel_names,
        )
        await relay.start()
        reminder_loop = ReminderLoop(db=db, poll_secs=settings.reminder_poll_secs)
        await reminder_loop.start()
        panchang = PanchangService(db=db)
        sunrise = SunriseScheduler(sio=app[keys.SIO], panchang=panchang)
        sunrise.register(gateway)
        await sunrise.start()
        app[keys.PANCHANG] = panchang
        app[keys.SUNRISE] = sunrise
        app[keys.FESTIVALS] = FestivalCalendar(db=db)
        app[keys.REMINDERS] = ReminderService(db=db)
        app[keys.DELIVERIES] = delivery_worker
        app[keys.INBOX] = inbox
        app[keys.LIVE] = live
        app[keys.STREAMS] = streams
        app[keys.RELAY] = relay
        app[keys.REPORTS] = ReportService(
            db=db,
            store=app[keys.FILE_STORE],
            max_bytes_by_type=settings.files_max_bytes,
            upload_expiry_secs=settings.files_upload_expiry_secs,
            download_expiry_secs=settings.files_download_expiry_secs,
        )
        wallet_events = WalletEvents(dsn, gateway.push_wallet_event)
        await wallet_events.start()
        payments = PaymentService(
            db=db,
            shards=shards,
            wallets=wallets,
            gateways=gateways,
            router=GatewayRouter(DEFAULT_SCHEDULES),
            observe_route=metrics.route_decision,
        )
        payment_jobs = PaymentJobs(
            db=db,
            payments=payments,
            reconcile_every_secs=settings.reconcile_every_secs,
            reconcile_after_secs=settings.reconcile_after_secs,
        )
        await payment_jobs.start()
        app[keys.PAYMENTS] = payments
        app[keys.BOOKINGS] = BookingCancellation(
            db=db, shards=shards, wallets=wallets, payments=payments
        )
        app[keys.PAYMENT_JOBS] = payment_jobs
        app[keys.LIBRARY] = Library(
            plans=SeatPlans(db=db, shards=shards, hold_payments=hold_payments),
            attendance=attendance,
            students=StudentService(db=db),
        )
        app[keys.HOLD_PAYMENTS] = hold_payments
        app[keys.WALLET_SHARDS] = wallet_shards
        app[keys.WALLETS] = wallets
        app[keys.SESSIONS] = sessions
        app[keys.DB] = db
        app[keys.SHARDS] = shards
        app[keys.FANOUT] = fanout
        app[keys.HOLDS] = holds
        app[keys.SOCKETS] = gateway
        yield
    finally:
        if sunrise is not None:
            await sunrise.stop()
        if reminder_loop is not None:
            await reminder_loop.stop()
        if relay is not None:
            await relay.stop()
        if delivery_worker is not None:
            await delivery_worker.stop()
        if streams is not None:
            await streams.stop()
        if presence is not None:
            await presence.stop()
        if payment_jobs is not None:
            await payment_jobs.stop()
        if hold_payments is not None:
            await hold_payments.stop()
        if wallet_events is not None:
            await wallet_events.stop()
        if gateway is not None:
            await gateway.stop()
        if fanout is not None:
            await fanout.stop()
        if sessions is not None:
            await sessions.stop()
        if shards is not None:
            await shards.stop()
        if wallet_shards is not None:
            await wallet_shards.stop()
        if gateways is not None:
            await gateways.aclose()
        await db.close()
        if started_ray:
            ray.shutdown()
