"""Pure rules of hub/limits.py and the wire codec, on a fake clock."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from hub.cli import serve_loop_factory
from hub.cors import CorsPolicy
from hub.limits import ConnectionLimit, EventRateLimits, SubscriptionLimit
from hub.settings import Settings
from hub.wire_json import WIRE_JSON, dumps_str
from protocols.errors import LimitExceeded, RateLimited


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_event_takes_from_both_buckets_or_from_neither():
    clock = FakeClock()
    limits = EventRateLimits(
        events_per_sec=1.0, burst=2, user_events_per_sec=1.0, user_burst=3, clock=clock
    )
    user = uuid.uuid4()
    limits.opened("a", user)
    limits.opened("b", user)
    limits.take("a", user)
    limits.take("a", user)
    with pytest.raises(RateLimited) as refused:
        limits.take("a", user)  # a's own bucket is empty; the user's still has one
    assert refused.value.details["scope"] == "connection"
    limits.take("b", user)  # ... which b may use: the refusal took nothing
    with pytest.raises(RateLimited) as refused:
        limits.take("b", user)
    assert refused.value.details == {"retry_after_secs": 1.0, "scope": "user"}
    clock.now += 0.5
    with pytest.raises(RateLimited) as refused:
        limits.take("b", user)
    assert refused.value.details["retry_after_secs"] == 0.5
    clock.now += 0.5
    limits.take("b", user)


def test_a_users_bucket_survives_reconnects_until_it_has_refilled():
    clock = FakeClock()
    limits = EventRateLimits(
        events_per_sec=10.0, burst=10, user_events_per_sec=1.0, user_burst=1, clock=clock
    )
    user = uuid.uuid4()
    limits.opened("a", user)
    limits.take("a", user)
    limits.closed("a", user)
    limits.opened("b", user)
    with pytest.raises(RateLimited):
        limits.take("b", user)
    limits.closed("b", user)
    clock.now += 120  # refilled: forgotten when the idle buckets are next pruned
    limits.opened("c", uuid.uuid4())
    assert user not in limits._idle_users


def test_subscriptions_count_distinct_streams_per_socket():
    limit = SubscriptionLimit(2)
    assert limit.reserve("s", "x") is True
    assert limit.reserve("s", "x") is False
    assert limit.reserve("s", "y") is True
    with pytest.raises(LimitExceeded) as refused:
        limit.reserve("s", "z")
    assert refused.value.details == {"limit": "subscriptions_per_connection", "max": 2}
    assert limit.reserve("t", "z") is True
    limit.release("s", "x")
    assert limit.reserve("s", "z") is True
    limit.forget("s")
    assert limit.count("s") == 0
    limit.release("gone", "x")  # after a disconnect: nothing to do


def test_connections_are_counted_per_address_and_released_once():
    limit = ConnectionLimit(1)
    limit.admit("a", "10.0.0.1")
    with pytest.raises(LimitExceeded):
        limit.admit("b", "10.0.0.1")
    limit.admit("c", "10.0.0.2")
    limit.release("a")
    limit.release("a")
    assert limit.live("10.0.0.1") == 0
    limit.admit("b", "10.0.0.1")


@pytest.mark.parametrize(
    ("configured", "database_url", "origin", "allowed"),
    [
        (None, None, "http://localhost:5173", True),
        (None, None, "https://127.0.0.1:8443", True),
        (None, None, "http://[::1]:3000", True),
        (None, None, "http://localhost.evil.example", False),
        (None, None, "file://localhost", False),
        (None, "postgresql://db/seva", "http://localhost:5173", False),
        (None, "postgresql://db/seva", "http://hub.example:8080", True),  # same origin
        (["https://app.example/"], None, "https://APP.example", True),
        (["https://app.example"], None, "http://localhost:5173", False),
        (["https://app.example"], None, "null", False),
        (["*"], "postgresql://db/seva", "https://anyone.example", True),
    ],
)
def test_cors_policy(configured, database_url, origin, allowed):
    settings = Settings(cors_allowed_origins=configured, DATABASE_URL=database_url)
    policy = CorsPolicy.from_settings(settings)
    assert policy.allows(origin, hosts=["hub.example:8080"]) is allowed


def test_forwarded_host_counts_as_same_origin_only_when_trusted():
    environ = {"HTTP_HOST": "10.0.0.5:8080", "HTTP_X_FORWARDED_HOST": "hub.example"}
    trusted = CorsPolicy(trust_forwarded_host=True)
    assert trusted.allows_socket("https://hub.example", environ)
    assert not CorsPolicy().allows_socket("https://hub.example", environ)
    assert not CorsPolicy().allows_socket(None, environ)


def test_wire_json_writes_what_the_standard_library_writes():
    payload = {"ok": True, "data": {"n": [1, 2.5, None], "s": "ॐ \u2028", "k": {"1": "x"}}}
    assert dumps_str(payload, separators=(",", ":")) == json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False
    )
    assert WIRE_JSON.loads(dumps_str(payload)) == payload


def test_wire_json_also_writes_what_the_standard_library_cannot():
    when = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert json.loads(dumps_str({"at": when, "id": ident})) == {
        "at": "2026-11-22T06:00:00+00:00",
        "id": str(ident),
    }
    assert json.loads(dumps_str({"big": 2**70})) == {"big": 2**70}  # the fallback
    assert dumps_str({"a": 1}, indent=2) == json.dumps({"a": 1}, indent=2)
    with pytest.raises(TypeError):
        dumps_str({"x": object()})
    with pytest.raises(ValueError):
        WIRE_JSON.loads("{not json")


def test_serve_uses_uvloop_unless_turned_off():
    import uvloop

    assert serve_loop_factory(Settings()) is uvloop.new_event_loop
    assert serve_loop_factory(Settings(uvloop=False)) is None
