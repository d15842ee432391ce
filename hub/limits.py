"""Limits on what one client may do to a hub: event rates, subscriptions, connections.

Every limit here is per hub process (state is in memory; a client spread over several hubs gets
each hub's allowance). They refuse with the contract errors of ``protocols/errors.py``:

- events: a token bucket per connection and one per user, shared by all of the user's sockets
  on this hub; an event needs a token from both, or it is refused with ``rate_limited`` and
  ``details.retry_after_secs`` (the wait until both buckets hold a token again);
- availability subscriptions per connection: ``limit_exceeded``,
  ``details = {limit: "subscriptions_per_connection", max}``;
- live connections per client address: ``limit_exceeded``,
  ``details = {limit: "connections_per_ip", max}``, as the connect error.

Nothing here awaits, so each check-and-take is atomic on the event loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from hub.settings import Settings
from protocols.errors import LimitExceeded, RateLimited

Clock = Callable[[], float]

USER_RATE_FACTOR = 2.0
"""Unset per-user limits are this many times the per-connection ones: one busy socket meets its
own bucket first, and all of a user's sockets together get twice what one socket gets."""


@dataclass
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate_per_sec``; one event costs one token."""

    rate_per_sec: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate_per_sec: float, burst: float, now: float) -> TokenBucket:
        return cls(rate_per_sec, burst, burst, now)

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate_per_sec)
        self.stamp = now

    def wait_secs(self) -> float:
        """How long until one token is there (0 if one is); call after :meth:`refill`."""
        return max(0.0, (1.0 - self.tokens) / self.rate_per_sec)

    def is_full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.burst


@dataclass
class _UserBuckets:
    bucket: TokenBucket
    sockets: set[str] = field(default_factory=set)


class EventRateLimits:
    """Token buckets per connection and per user.

    A user's bucket outlives their sockets until it has refilled, so reconnecting does not
    reset it (a full bucket is the same as a new one, so only those are forgotten)."""

    def __init__(
        self,
        *,
        events_per_sec: float,
        burst: int,
        user_events_per_sec: float,
        user_burst: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self._rate = events_per_sec
        self._burst = float(burst)
        self._user_rate = user_events_per_sec
        self._user_burst = float(user_burst)
        self._clock = clock
        self._connections: dict[str, TokenBucket] = {}
        self._users: dict[UUID, _UserBuckets] = {}
        self._idle_users: dict[UUID, TokenBucket] = {}
        self._next_prune = 0.0

    def opened(self, sid: str, user_id: UUID) -> None:
        now = self._clock()
        self._connections[sid] = TokenBucket.full(self._rate, self._burst, now)
        entry = self._users.get(user_id)
        if entry is None:
            bucket = self._idle_users.pop(user_id, None) or TokenBucket.full(
                self._user_rate, self._user_burst, now
            )
            entry = self._users[user_id] = _UserBuckets(bucket)
        entry.sockets.add(sid)
        self._prune_idle(now)

    def closed(self, sid: str, user_id: UUID) -> None:
        self._connections.pop(sid, None)
        entry = self._users.get(user_id)
        if entry is None:
            return
        entry.sockets.discard(sid)
        if not entry.sockets:
            del self._users[user_id]
            if not entry.bucket.is_full(self._clock()):
                self._idle_users[user_id] = entry.bucket

    def take(self, sid: str, user_id: UUID) -> None:
        """Take one token from the connection's and the user's bucket, or neither.

        Raises ``RateLimited`` (``details.retry_after_secs``, ``details.scope`` =
        ``"connection"`` or ``"user"``)."""
        now = self._clock()
        connection = self._connections[sid]
        user = self._users[user_id].bucket
        connection.refill(now)
        user.refill(now)
        if connection.tokens >= 1.0 and user.tokens >= 1.0:
            connection.tokens -= 1.0
            user.tokens -= 1.0
            return
        if user.wait_secs() > connection.wait_secs():
            scope, message, wait = "user", "too many events from this user", user.wait_secs()
        else:
            scope, message = "connection", "too many events on this connection"
            wait = connection.wait_secs()
        # Rounded up to whole milliseconds: a client that waits this long finds a token.
        retry_after_secs = math.ceil(wait * 1000) / 1000
        raise RateLimited(message, {"retry_after_secs": retry_after_secs, "scope": scope})

    def _prune_idle(self, now: float) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + 60.0
        for user_id in [u for u, b in self._idle_users.items() if b.is_full(now)]:
            del self._idle_users[user_id]


class SubscriptionLimit:
    """At most ``max_per_connection`` availability streams per socket.

    Counted here rather than read from the fan-out, so the limit needs nothing from it:
    :meth:`reserve` before subscribing, :meth:`release` after an unsubscribe (or a failed
    subscribe that reserved), :meth:`forget` on disconnect."""

    def __init__(self, max_per_connection: int) -> None:
        self.max_per_connection = max_per_connection
        self._streams: dict[str, set[str]] = {}

    def reserve(self, sid: str, stream: str) -> bool:
        """Count ``stream`` for ``sid``; ``False`` if it already was (a re-subscribe is free).

        Raises ``LimitExceeded`` when ``sid`` already has the maximum."""
        streams = self._streams.setdefault(sid, set())
        if stream in streams:
            return False
        if len(streams) >= self.max_per_connection:
            raise LimitExceeded(
                f"at most {self.max_per_connection} availability subscriptions per connection",
                {"limit": "subscriptions_per_connection", "max": self.max_per_connection},
            )
        streams.add(stream)
        return True

    def release(self, sid: str, stream: str) -> None:
        streams = self._streams.get(sid)
        if streams is not None:
            streams.discard(stream)

    def forget(self, sid: str) -> None:
        self._streams.pop(sid, None)

    def count(self, sid: str) -> int:
        return len(self._streams.get(sid, ()))


class ConnectionLimit:
    """At most ``max_per_ip`` live sockets per client address."""

    def __init__(self, max_per_ip: int) -> None:
        self.max_per_ip = max_per_ip
        self._by_ip: dict[str, int] = {}
        self._ip_of: dict[str, str] = {}

    def admit(self, sid: str, ip: str) -> None:
        """Count ``sid`` against ``ip``; call :meth:`release` when it goes (or is refused later).

        Raises ``LimitExceeded``."""
        live = self._by_ip.get(ip, 0)
        if live >= self.max_per_ip:
            raise LimitExceeded(
                f"at most {self.max_per_ip} connections per client address",
                {"limit": "connections_per_ip", "max": self.max_per_ip},
            )
        self._by_ip[ip] = live + 1
        self._ip_of[sid] = ip

    def release(self, sid: str) -> None:
        ip = self._ip_of.pop(sid, None)
        if ip is None:
            return
        left = self._by_ip[ip] - 1
        if left:
            self._by_ip[ip] = left
        else:
            del self._by_ip[ip]

    def live(self, ip: str) -> int:
        return self._by_ip.get(ip, 0)


@dataclass(frozen=True)
class SocketLimits:
    """The limits one :class:`~hub.sockets.SocketGateway` enforces."""

    events: EventRateLimits
    subscriptions: SubscriptionLimit
    connections: ConnectionLimit

    @classmethod
    def from_settings(cls, settings: Settings) -> SocketLimits:
        user_rate = settings.socket_user_events_per_sec
        user_burst = settings.socket_user_burst
        return cls(
            events=EventRateLimits(
                events_per_sec=settings.socket_events_per_sec,
                burst=settings.socket_burst,
                user_events_per_sec=(
                    user_rate
                    if user_rate is not None
                    else settings.socket_events_per_sec * USER_RATE_FACTOR
                ),
                user_burst=(
                    user_burst
                    if user_burst is not None
                    else int(settings.socket_burst * USER_RATE_FACTOR)
                ),
            ),
            subscriptions=SubscriptionLimit(settings.socket_max_subscriptions),
            connections=ConnectionLimit(settings.socket_max_connections_per_ip),
        )
