"""The pure hold rules, without Ray or PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from actors.domain import Effects, TenantInventory
from actors.placement import shard_for
from protocols.errors import Conflict, Forbidden, LimitExceeded, NotFound, SoldOut
from protocols.holds import HoldStatus
from storage.records import SlotState

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _inventory(capacity: int = 3) -> tuple[TenantInventory, SlotState]:
    tenant = uuid.uuid4()
    slot = SlotState(
        slot_id=uuid.uuid4(),
        tenant_id=tenant,
        resource_id=uuid.uuid4(),
        stream="availability:t:r:2026-11-23",
        starts_at=NOW + timedelta(days=1),
        capacity=capacity,
        held_qty=0,
        confirmed_qty=0,
        version=0,
    )
    inv = TenantInventory(tenant_id=tenant, hold_ttl=timedelta(minutes=10))
    inv.slots[slot.slot_id] = slot
    inv.stream_seq[slot.stream] = 41
    return inv, slot


def _hold(inv, slot, effects, *, qty=1, key=None, user=None, existing=None, now=NOW):
    return inv.create_hold(
        slot_id=slot.slot_id,
        user_id=user or uuid.uuid4(),
        qty=qty,
        idempotency_key=key or uuid.uuid4().hex,
        existing=existing,
        new_id=uuid.uuid4(),
        now=now,
        effects=effects,
    )


def test_holds_are_granted_until_capacity_then_sold_out():
    inv, slot = _inventory(capacity=3)
    effects = Effects()
    _hold(inv, slot, effects, qty=2)
    _hold(inv, slot, effects, qty=1)
    with pytest.raises(SoldOut) as err:
        _hold(inv, slot, effects, qty=1)
    assert err.value.details["available"] == 0
    assert slot.held_qty == 3
    assert [e.seq for e in effects.events] == [42, 43]
    assert [e.available for e in effects.events] == [1, 0]
    assert len(effects.new_holds) == 2


def test_a_hold_expires_after_its_ttl_and_frees_the_place():
    inv, slot = _inventory(capacity=1)
    effects = Effects()
    hold = _hold(inv, slot, effects)
    assert hold.expires_at == NOW + timedelta(minutes=10)
    assert inv.expire_due(NOW + timedelta(minutes=9), effects) == 0
    assert inv.expire_due(NOW + timedelta(minutes=10), effects) == 1
    assert slot.held_qty == 0
    assert effects.new_holds[hold.hold_id].status is HoldStatus.EXPIRED
    assert [e.available for e in effects.events] == [0, 1]


def test_a_due_hold_is_expired_before_refusing_a_new_one():
    inv, slot = _inventory(capacity=1)
    effects = Effects()
    _hold(inv, slot, effects)
    later = NOW + timedelta(minutes=11)
    second = _hold(inv, slot, effects, now=later)
    assert second.status is HoldStatus.HELD
    assert slot.held_qty == 1


def test_same_key_returns_the_existing_hold_and_different_fields_conflict():
    inv, slot = _inventory()
    effects = Effects()
    first = _hold(inv, slot, effects, key="k")
    again = _hold(inv, slot, effects, key="k", existing=first, qty=1)
    assert again is first
    with pytest.raises(Conflict) as err:
        _hold(inv, slot, effects, key="k", existing=first, qty=2)
    assert err.value.details["reason"] == "exists_with_different_fields"
    assert slot.held_qty == 1


def test_release_is_for_the_holder_or_staff_and_safe_to_repeat():
    inv, slot = _inventory()
    effects = Effects()
    owner = uuid.uuid4()
    hold = _hold(inv, slot, effects, user=owner)
    with pytest.raises(Forbidden):
        inv.release_hold(
            hold, by_user=uuid.uuid4(), may_release_any=False, now=NOW, effects=effects
        )
    released = inv.release_hold(
        hold, by_user=owner, may_release_any=False, now=NOW, effects=effects
    )
    assert released.status is HoldStatus.RELEASED
    again = inv.release_hold(
        released, by_user=owner, may_release_any=False, now=NOW, effects=effects
    )
    assert again is released
    assert slot.held_qty == 0
    assert len(effects.events) == 2


def test_confirmed_holds_move_to_confirmed_and_cannot_be_released():
    inv, slot = _inventory(capacity=2)
    effects = Effects()
    hold = _hold(inv, slot, effects, qty=2)
    confirmed = inv.confirm_hold(hold, now=NOW, effects=effects)
    assert confirmed.status is HoldStatus.CONFIRMED
    assert (slot.held_qty, slot.confirmed_qty, slot.available) == (0, 2, 0)
    assert inv.confirm_hold(confirmed, now=NOW, effects=effects) is confirmed
    with pytest.raises(Conflict):
        inv.release_hold(
            confirmed, by_user=hold.user_id, may_release_any=False, now=NOW, effects=effects
        )
    assert len(effects.events) == 1  # confirming does not change what is available


def test_an_expired_hold_cannot_be_confirmed():
    inv, slot = _inventory()
    effects = Effects()
    hold = _hold(inv, slot, effects)
    with pytest.raises(Conflict):
        inv.confirm_hold(hold, now=NOW + timedelta(hours=1), effects=effects)
    assert slot.held_qty == 0


def test_started_and_unknown_slots_are_refused():
    inv, slot = _inventory()
    with pytest.raises(Conflict):
        _hold(inv, slot, Effects(), now=slot.starts_at)
    with pytest.raises(NotFound):
        inv.create_hold(
            slot_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            qty=1,
            idempotency_key="k",
            existing=None,
            new_id=uuid.uuid4(),
            now=NOW,
            effects=Effects(),
        )


def test_placement_is_stable_and_spreads_tenants():
    tenants = [uuid.UUID(int=i * 7919) for i in range(1, 2001)]
    placed = [shard_for(t, 8) for t in tenants]
    assert placed == [shard_for(t, 8) for t in tenants]
    counts = [placed.count(i) for i in range(8)]
    assert min(counts) > 150  # 250 each on average
    assert shard_for(uuid.UUID("00000000-0000-0000-0000-000000000001"), 4) == shard_for(
        uuid.UUID("00000000-0000-0000-0000-000000000001"), 4
    )


def test_capacity_cannot_go_below_held_plus_confirmed_and_nothing_changes():
    inv, slot = _inventory(capacity=5)
    effects = Effects()
    hold = _hold(inv, slot, effects, qty=2)
    inv.confirm_hold(_hold(inv, slot, effects, qty=1), now=NOW, effects=effects)
    events_before = len(effects.events)
    with pytest.raises(Conflict) as err:
        inv.set_capacity(slot_id=slot.slot_id, capacity=2, now=NOW, effects=effects)
    assert err.value.details == {"held": 2, "confirmed": 1}
    assert slot.capacity == 5
    assert len(effects.events) == events_before
    assert hold.hold_id in inv.active_holds


def test_capacity_change_publishes_the_new_available_and_the_same_value_changes_nothing():
    inv, slot = _inventory(capacity=5)
    effects = Effects()
    _hold(inv, slot, effects, qty=2)
    changed = inv.set_capacity(slot_id=slot.slot_id, capacity=3, now=NOW, effects=effects)
    assert (changed.capacity_before, changed.capacity, changed.available) == (5, 3, 1)
    assert (effects.events[-1].seq, effects.events[-1].available) == (43, 1)
    assert effects.slots[slot.slot_id].capacity == 3
    again = Effects()
    same = inv.set_capacity(slot_id=slot.slot_id, capacity=3, now=NOW, effects=again)
    assert (same.capacity_before, same.capacity) == (3, 3)
    assert not again and again.events == []


def test_capacity_change_expires_due_holds_first():
    inv, slot = _inventory(capacity=2)
    effects = Effects()
    _hold(inv, slot, effects, qty=2)
    later = NOW + timedelta(minutes=10)
    changed = inv.set_capacity(slot_id=slot.slot_id, capacity=0, now=later, effects=effects)
    assert changed.available == 0 and slot.held_qty == 0
    with pytest.raises(NotFound):
        inv.set_capacity(slot_id=uuid.uuid4(), capacity=1, now=NOW, effects=effects)


def test_same_key_with_the_same_extras_returns_the_hold_and_other_extras_conflict():
    inv, slot = _inventory()
    effects = Effects()
    extras = {"participants": [{"name": "Asha"}], "special_requests": None}
    user = uuid.uuid4()

    def create(existing, extras):
        return inv.create_hold(
            slot_id=slot.slot_id,
            user_id=user,
            qty=1,
            idempotency_key="k",
            existing=existing,
            new_id=uuid.uuid4(),
            now=NOW,
            effects=effects,
            extras=extras,
        )

    first = create(None, extras)
    assert first.extras == extras
    assert create(first, dict(extras)) is first
    for other in (None, {"participants": [], "special_requests": "x"}):
        with pytest.raises(Conflict) as err:
            create(first, other)
        assert err.value.details["reason"] == "exists_with_different_fields"
    assert slot.held_qty == 1


def test_the_monthly_limit_counts_live_bookings_and_starts_again_each_month():
    inv, slot = _inventory(capacity=10)
    slot.starts_at = NOW + timedelta(days=60)
    inv.max_monthly_bookings = 2
    effects = Effects()
    first = _hold(inv, slot, effects)
    _hold(inv, slot, effects)
    with pytest.raises(LimitExceeded):
        _hold(inv, slot, effects)
    inv.release_hold(first, by_user=first.user_id, may_release_any=False, now=NOW, effects=effects)
    _hold(inv, slot, effects)  # the released one no longer counts
    next_month = NOW + timedelta(days=31)
    _hold(inv, slot, effects, now=next_month)
    assert inv.month_bookings == 1


def test_a_cancelled_booking_frees_its_place_under_the_monthly_limit():
    inv, slot = _inventory(capacity=5)
    inv.max_monthly_bookings = 1
    effects = Effects()
    hold = _hold(inv, slot, effects)
    confirmed = inv.confirm_hold(hold, now=NOW, effects=effects)
    with pytest.raises(LimitExceeded):
        _hold(inv, slot, effects)
    inv.cancel_booking(
        confirmed, by_user=hold.user_id, may_cancel_any=False, now=NOW, effects=effects
    )
    assert slot.confirmed_qty == 0
    _hold(inv, slot, effects)  # the cancelled booking no longer counts
