"""Typed keys for what the app holds (aiohttp: "Data sharing aka no singletons please")."""

from __future__ import annotations

import asyncpg
import socketio
from aiohttp import web

from actors.pool import ShardPool
from hub.auth import Passwords
from hub.bookings import BookingCancellation
from hub.deliveries import DeliveryWorker
from hub.fanout import AvailabilityFanout
from hub.feed_relay import FeedRelay
from hub.festivals import FestivalCalendar
from hub.gateway_directory import GatewayDirectory
from hub.guard import SESSIONS, TOKENS
from hub.hold_payments import HoldPayments
from hub.holds import HoldService
from hub.inbox import Inbox
from hub.library import Library
from hub.live import LiveStatusService
from hub.panchang import PanchangService, SunriseScheduler
from hub.payment_jobs import PaymentJobs
from hub.payments import PaymentService
from hub.reminders import ReminderService
from hub.reports import ReportService
from hub.settings import Settings
from hub.sockets import SocketGateway
from hub.streams import StreamService
from hub.wallets import WalletService
from protocols.files import FileStore
from protocols.filestores.local import LocalFileStore

SETTINGS = web.AppKey("settings", Settings)
DSN = web.AppKey("dsn", str)
DB = web.AppKey("db", asyncpg.Pool)
SHARDS = web.AppKey("shards", ShardPool)
PASSWORDS = web.AppKey("passwords", Passwords)
SIO = web.AppKey("sio", socketio.AsyncServer)
HOLDS = web.AppKey("holds", HoldService)
FANOUT = web.AppKey("fanout", AvailabilityFanout)
SOCKETS = web.AppKey("sockets", SocketGateway)
WALLET_SHARDS = web.AppKey("wallet_shards", ShardPool)
WALLETS = web.AppKey("wallets", WalletService)
HOLD_PAYMENTS = web.AppKey("hold_payments", HoldPayments)
PAYMENTS = web.AppKey("payments", PaymentService)
BOOKINGS = web.AppKey("bookings", BookingCancellation)
PAYMENT_JOBS = web.AppKey("payment_jobs", PaymentJobs)
GATEWAYS = web.AppKey("gateways", GatewayDirectory)
INBOX = web.AppKey("inbox", Inbox)
LIVE = web.AppKey("live", LiveStatusService)
STREAMS = web.AppKey("streams", StreamService)
RELAY = web.AppKey("relay", FeedRelay)
DELIVERIES = web.AppKey("deliveries", DeliveryWorker)
FILE_STORE: web.AppKey[FileStore] = web.AppKey("file_store")
LOCAL_FILES = web.AppKey("local_files", LocalFileStore)
REPORTS = web.AppKey("reports", ReportService)
REMINDERS = web.AppKey("reminders", ReminderService)
LIBRARY = web.AppKey("library", Library)
PANCHANG = web.AppKey("panchang", PanchangService)
SUNRISE = web.AppKey("sunrise", SunriseScheduler)
FESTIVALS = web.AppKey("festivals", FestivalCalendar)

__all__ = [
    "BOOKINGS",
    "DB",
    "DELIVERIES",
    "DSN",
    "FANOUT",
    "FESTIVALS",
    "FILE_STORE",
    "GATEWAYS",
    "HOLDS",
    "HOLD_PAYMENTS",
    "INBOX",
    "LIBRARY",
    "LIVE",
    "LOCAL_FILES",
    "PANCHANG",
    "PASSWORDS",
    "PAYMENTS",
    "PAYMENT_JOBS",
    "RELAY",
    "REMINDERS",
    "REPORTS",
    "SESSIONS",
    "SETTINGS",
    "SHARDS",
    "SIO",
    "SOCKETS",
    "STREAMS",
    "SUNRISE",
    "TOKENS",
    "WALLETS",
    "WALLET_SHARDS",
]
