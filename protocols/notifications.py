"""Notification inbox: types, wire models and the (English) texts each type renders to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from protocols.wire import WireModel

NotificationType = Literal[
    "booking_confirmed",
    "booking_cancelled",
    "booking_rescheduled",
    "booking_reminder",
    "puja_started",
    "puja_completed",
    "puja_report_ready",
    "stream_started",
    "payment_success",
    "payment_failed",
    "refund_processed",
    "credits_low",
    "system",
    "fee_due",
    "plan_renewal",
    "waitlist_offer",
]
Priority = Literal["low", "normal", "high"]

NOTIFICATION_EVENT = "notification"
READ_EVENT = "notifications:read"


class NotificationView(WireModel):
    id: UUID
    type: NotificationType
    title: str
    body: str
    data: dict[str, Any]
    priority: Priority
    seq: int
    created_at: datetime
    read_at: datetime | None
    expires_at: datetime | None


class NotificationPage(WireModel):
    items: list[NotificationView]
    next_cursor: str | None
    unread: int


class ListNotifications(WireModel):
    """``notifications:list``: newest first; pass ``next_cursor`` back for the next page."""

    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)
    unread_only: bool = False


class ReadNotifications(WireModel):
    """``notifications:read``: mark ``ids`` read, or every notification with ``all: true``."""

    ids: list[UUID] | None = Field(default=None, min_length=1, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> ReadNotifications:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


class SendSystemNotice(WireModel):
    """``POST /api/v1/tenants/{tenant_id}/notifications``: a ``system`` notice to users."""

    user_ids: list[UUID] = Field(min_length=1, max_length=1000)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)
    priority: Priority = "normal"
    expires_at: datetime | None = None
    idempotency_key: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    priority: Priority


_TEXTS: dict[str, tuple[str, str, Priority]] = {
    "booking_confirmed": ("Booking confirmed", "Your booking {booking_id} is confirmed.", "high"),
    "booking_cancelled": ("Booking cancelled", "Your booking {booking_id} was cancelled.", "high"),
    "booking_rescheduled": ("Booking rescheduled", "Your booking {booking_id} moved.", "high"),
    "booking_reminder": ("Reminder", "Your booking {booking_id} starts soon.", "normal"),
    "puja_started": ("Puja started", "Your puja has started.", "high"),
    "puja_completed": ("Puja completed", "Your puja is complete.", "normal"),
    "puja_report_ready": ("Puja report ready", "The report of your puja is ready.", "normal"),
    "stream_started": ("Live now", "A live stream you can watch has started.", "high"),
    "payment_success": ("Payment received", "We received ₹{rupees}.", "normal"),
    "payment_failed": ("Payment failed", "Your payment did not go through.", "high"),
    "refund_processed": ("Refund processed", "₹{rupees} is on its way back to you.", "normal"),
    "credits_low": ("Messaging credits low", "Your messaging credits are running low.", "high"),
    "fee_due": ("Fee due", "Your fee of ₹{rupees} is due on {due_date}.", "high"),
    "plan_renewal": (
        "Seat plan ending soon",
        "Your seat plan ends on {plan_ends_on}. Renew it to keep your seat.",
        "normal",
    ),
    "waitlist_offer": (
        "A place is free for you",
        "{qty} place(s) you waited for are held for you (ref {booking_ref}): pay before the "
        "offer expires.",
        "high",
    ),
}
# A seat plan's one confirmation (``booking_confirmed`` with ``plan_id`` instead of a booking).
_PLAN_CONFIRMED_BODY = "Your seat {seat} is booked from {from} to {to}."
# Data keys holding an ISO date (``YYYY-MM-DD``), shown as ``DD-MM-YYYY`` in every text.
DATE_KEYS: tuple[str, ...] = ("due_date", "plan_ends_on", "from", "to")


def render(kind: str, data: dict[str, Any]) -> Rendered:
    """Title, body and priority of a domain event; ``system`` notices carry their own text.
    Missing placeholders render empty rather than failing the dispatch."""
    if kind == "system":
        return Rendered(
            title=str(data.get("title", "")),
            body=str(data.get("body", "")),
            priority=data.get("priority", "normal"),
        )
    title, body, priority = _TEXTS[kind]
    if kind == "booking_confirmed" and "plan_id" in data:
        body = _PLAN_CONFIRMED_BODY
    values = _Placeholders(data)
    if "amount_paise" in data:
        paise = int(data["amount_paise"])
        values["rupees"] = f"{paise // 100}.{paise % 100:02d}"
    for key in DATE_KEYS:
        if key in data:
            values[key] = indian_date(data[key])
    return Rendered(title=title, body=body.format_map(values), priority=priority)


def indian_date(value: Any) -> str:
    """``2030-01-05`` -> ``05-01-2030`` (day first, as read in India); anything that is not
    an ISO date is returned as it is."""
    text = str(value)
    try:
        return date.fromisoformat(text).strftime("%d-%m-%Y")
    except ValueError:
        return text


class _Placeholders(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


DeliveryChannel = Literal["in_app", "email", "sms", "whatsapp"]


class QuietHours(WireModel):
    """Local times (the tenant's timezone), ``HH:MM``; may wrap midnight (22:00 → 07:00)."""

    # [0-9], not \d: \d also matches other scripts' digits ("१२:३०"), which time() refuses.
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class SetPreferences(WireModel):
    """``PUT /api/v1/me/notification-preferences``: channels per notification type (``*`` for
    every type without its own entry); ``quiet_hours: null`` clears them, absent keeps them."""

    types: dict[NotificationType | Literal["*"], list[DeliveryChannel]] = Field(
        default_factory=dict, max_length=20
    )
    quiet_hours: QuietHours | None = None
    clear_quiet_hours: bool = False


class RequeueDeliveries(WireModel):
    """``POST /api/v1/admin/deliveries/requeue``: these ids, or every delivery in ``status``."""

    ids: list[UUID] | None = Field(default=None, min_length=1, max_length=1000)
    status: Literal["dead", "failed", "skipped_insufficient_credits"] = "dead"


# -- REST answers ----------------------------------------------------------------------------


class NotificationsRead(WireModel):
    """``PUT /api/v1/notifications/read-all`` and ``.../{notification_id}/read``."""

    read: list[UUID] = Field(description="the notifications this call marked read")
    all: bool = Field(description="true for read-all")
    stream: str = Field(description="the user's feed stream the read was announced on")
    seq: int | None = Field(description="sequence number of the announcement, if any")


class SystemNoticeQueued(WireModel):
    """``POST /api/v1/tenants/{tenant_id}/notifications`` (202)."""

    queued: int = Field(description="notices newly queued (a repeated key queues none)")
    users: int


class PreferencesView(WireModel):
    """``GET``/``PUT /api/v1/me/notification-preferences``."""

    types: dict[str, list[str]] = Field(
        description="channels per notification type; ``*`` for every type without its own"
    )
    default: list[str] = Field(description="channels for a type without its own entry")
    quiet_hours: QuietHours | None


DeliveryStatus = Literal[
    "queued", "sending", "sent", "failed", "dead", "skipped_insufficient_credits"
]


class DeliveryView(WireModel):
    delivery_id: UUID
    tenant_id: UUID | None
    user_id: UUID
    channel: str
    kind: str = Field(description="the notification type delivered")
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


class DeliveryList(WireModel):
    deliveries: list[DeliveryView]


class DeliveriesRequeued(WireModel):
    requeued: list[UUID]
