"""A linked confirm of a booking group's holds: all become bookings, or none does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from actors.domain import Effects, TenantInventory
from protocols.errors import Conflict
from protocols.holds import HoldStatus
from storage.records import HoldState, SlotState

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _group(sizes: list[int]) -> tuple[TenantInventory, list[SlotState], list[HoldState]]:
    tenant = uuid.uuid4()
    inv = TenantInventory(tenant_id=tenant, hold_ttl=timedelta(minutes=10))
    slots, holds = [], []
    for qty in sizes:
        slot = SlotState(
            slot_id=uuid.uuid4(),
            tenant_id=tenant,
            resource_id=uuid.uuid4(),
            stream=f"availability:{uuid.uuid4()}",
            starts_at=NOW + timedelta(days=1),
            capacity=10,
            held_qty=0,
            confirmed_qty=0,
            version=0,
        )
        inv.slots[slot.slot_id] = slot
        slots.append(slot)
        holds.append(
            inv.create_hold(
                slot_id=slot.slot_id,
                user_id=uuid.uuid4(),
                qty=qty,
                idempotency_key=uuid.uuid4().hex,
                existing=None,
                new_id=uuid.uuid4(),
                now=NOW,
                effects=Effects(),
            )
        )
    return inv, slots, holds


def test_every_live_hold_of_the_group_is_confirmed_together():
    inv, slots, holds = _group([2, 1, 3])
    effects = Effects()
    confirmed = inv.confirm_holds(holds, now=NOW, effects=effects)
    assert [h.status for h in confirmed] == [HoldStatus.CONFIRMED] * 3
    assert [(s.held_qty, s.confirmed_qty) for s in slots] == [(0, 2), (0, 1), (0, 3)]
    assert len(effects.changed_holds) == 3
    # A retry answers the confirmed group unchanged.
    again = inv.confirm_holds(list(confirmed), now=NOW, effects=Effects())
    assert again == confirmed


def test_one_released_hold_refuses_the_whole_group_and_confirms_none():
    inv, slots, holds = _group([2, 1, 3])
    released = inv.release_hold(
        holds[1], by_user=holds[1].user_id, may_release_any=False, now=NOW, effects=Effects()
    )
    effects = Effects()
    with pytest.raises(Conflict) as refused:
        inv.confirm_holds([holds[0], released, holds[2]], now=NOW, effects=effects)
    assert refused.value.details == {"hold_id": str(released.hold_id), "status": "released"}
    assert not effects.changed_holds
    assert [(s.held_qty, s.confirmed_qty) for s in slots] == [(2, 0), (0, 0), (3, 0)]


def test_a_due_hold_expires_and_refuses_the_group():
    inv, slots, holds = _group([1, 1])
    later = NOW + timedelta(minutes=11)
    effects = Effects()
    with pytest.raises(Conflict) as refused:
        inv.confirm_holds(holds, now=later, effects=effects)
    assert refused.value.details == {"hold_id": str(holds[0].hold_id), "status": "expired"}
    assert [h.status for h in effects.changed_holds.values()] == [HoldStatus.EXPIRED]
    assert slots[1].held_qty == 1 and slots[1].confirmed_qty == 0
