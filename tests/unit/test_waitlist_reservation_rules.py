"""Places kept for a slot's waiting list: a plain hold cannot take them, an offer can."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from actors.domain import Effects, TenantInventory
from protocols.errors import SoldOut
from storage.records import SlotState

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _inventory(capacity: int) -> tuple[TenantInventory, SlotState]:
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
    return inv, slot


def _hold(inv: TenantInventory, slot: SlotState, qty: int = 1, *, for_waitlist: bool = False):
    return inv.create_hold(
        slot_id=slot.slot_id,
        user_id=uuid.uuid4(),
        qty=qty,
        idempotency_key=uuid.uuid4().hex,
        existing=None,
        new_id=uuid.uuid4(),
        now=NOW,
        effects=Effects(),
        for_waitlist=for_waitlist,
    )


def test_a_freed_place_reserved_for_a_waiter_is_sold_out_to_a_plain_hold():
    inv, slot = _inventory(capacity=1)
    first = _hold(inv, slot)
    inv.reserve_for_waitlist(slot.slot_id, 1)
    inv.release_hold(
        first, by_user=first.user_id, may_release_any=False, now=NOW, effects=Effects()
    )
    with pytest.raises(SoldOut) as refused:
        _hold(inv, slot)
    assert refused.value.details == {
        "slot_id": str(slot.slot_id),
        "available": 0,
        "requested": 1,
        "reserved_for_waitlist": 1,
    }
    offer = _hold(inv, slot, for_waitlist=True)
    assert offer.qty == 1
    assert inv.waitlist_reserved == {}


def test_places_beyond_the_reservation_stay_free_for_anyone():
    inv, slot = _inventory(capacity=5)
    assert inv.reserve_for_waitlist(slot.slot_id, 2) == 2
    _hold(inv, slot, 3)
    with pytest.raises(SoldOut):
        _hold(inv, slot, 1)
    _hold(inv, slot, 1, for_waitlist=True)
    assert inv.waitlist_reserved == {slot.slot_id: 1}
    _hold(inv, slot, 1, for_waitlist=True)
    assert inv.waitlist_reserved == {}
    with pytest.raises(SoldOut):
        _hold(inv, slot, 1, for_waitlist=True)


def test_a_reservation_of_zero_or_less_ends_it():
    inv, slot = _inventory(capacity=1)
    inv.reserve_for_waitlist(slot.slot_id, 1)
    assert inv.reserve_for_waitlist(slot.slot_id, 0) == 0
    assert _hold(inv, slot).qty == 1
