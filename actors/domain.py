"""Pure inventory rules of one tenant: holds against slot capacity.

No Ray, no database, no clock: callers pass ``now`` and new ids. Each rule mutates the
:class:`TenantInventory` it is given and records what it did in :class:`Effects` (rows to write,
availability events to publish, audit entries). The shard persists the effects in one
transaction; if that transaction fails the shard throws the in-memory state away and reloads it
from PostgreSQL, so mutating in place is safe.

State machine of a hold (``hold_*`` functions refuse every other move)::

    held ──confirm──▶ confirmed ──cancel──▶ cancelled
      │ ──release──▶ released
      └ ──expire───▶ expired
    confirmed ──reschedule──▶ confirmed (in another slot of the tenant)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from actors.commands import SlotCapacitySet
from protocols.errors import Conflict, Forbidden, LimitExceeded, NotFound, SoldOut
from protocols.holds import HoldStatus
from storage.records import (
    DEFAULT_HOLD_TTL_SECS,
    AuditEntry,
    AvailabilityEvent,
    HoldState,
    Reschedule,
    SlotState,
    TenantPolicy,
)


@dataclass
class Effects:
    """Everything one batch changed, in the order it happened."""

    new_holds: dict[UUID, HoldState] = field(default_factory=dict)
    changed_holds: dict[UUID, HoldState] = field(default_factory=dict)
    slots: dict[UUID, SlotState] = field(default_factory=dict)
    events: list[AvailabilityEvent] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)
    reschedules: list[Reschedule] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new_holds or self.changed_holds or self.slots or self.reschedules)

    def record_hold(self, hold: HoldState, *, is_new: bool) -> None:
        if is_new or hold.hold_id in self.new_holds:
            self.new_holds[hold.hold_id] = hold
        else:
            self.changed_holds[hold.hold_id] = hold


@dataclass
class TenantInventory:
    """The logical actor's state: the slots it has loaded and their active holds."""

    tenant_id: UUID
    hold_ttl: timedelta = timedelta(seconds=DEFAULT_HOLD_TTL_SECS)
    slots: dict[UUID, SlotState] = field(default_factory=dict)
    active_holds: dict[UUID, HoldState] = field(default_factory=dict)
    # The same live holds by slot, so a hot slot never scans the whole tenant.
    holds_by_slot: dict[UUID, dict[UUID, HoldState]] = field(default_factory=dict)
    stream_seq: dict[str, int] = field(default_factory=dict)
    timezone: str = "Asia/Kolkata"
    max_monthly_bookings: int | None = None
    month: tuple[int, int] | None = None  # the (year, month) that month_bookings counts
    month_bookings: int = 0
    # Free places kept for a slot's waiting list: loaded with the slot (what its waiters are
    # queued for), then kept current by the waitlist loop through the actor.
    waitlist_reserved: dict[UUID, int] = field(default_factory=dict)

    @classmethod
    def from_policy(cls, tenant_id: UUID, policy: TenantPolicy, now: datetime) -> TenantInventory:
        inv = cls(
            tenant_id=tenant_id,
            hold_ttl=timedelta(seconds=policy.hold_ttl_secs),
            timezone=policy.timezone,
            max_monthly_bookings=policy.max_monthly_bookings,
        )
        inv.month = inv._month_of(now)
        inv.month_bookings = policy.bookings_this_month
        return inv

    # -- rules ---------------------------------------------------------------------------------

    def create_hold(
        self,
        *,
        slot_id: UUID,
        user_id: UUID,
        qty: int,
        idempotency_key: str,
        existing: HoldState | None,
        new_id: UUID,
        now: datetime,
        effects: Effects,
        extras: dict[str, Any] | None = None,
        ttl: timedelta | None = None,
        for_waitlist: bool = False,
    ) -> HoldState:
        """Hold ``qty`` places for ``ttl`` (default: the tenant's hold TTL), or return
        ``existing`` (the hold made earlier with this key).

        Raises Conflict if the key was used for a different slot, quantity or extras, NotFound
        for an unknown slot, Conflict if the slot has started, SoldOut if fewer than ``qty`` are
        left. Places reserved for the slot's waiting list count as taken unless
        ``for_waitlist`` (an offer to a waiter, which uses up that much of the reservation).
        """
        if existing is not None:
            if existing.slot_id != slot_id or existing.qty != qty or existing.extras != extras:
                raise Conflict(
                    "idempotency key was already used for a different hold",
                    {"reason": "exists_with_different_fields", "hold_id": str(existing.hold_id)},
                )
            return existing
        slot = self._slot(slot_id)
        if not slot.bookable:
            raise Conflict(
                "this resource is archived", {"slot_id": str(slot_id), "reason": "archived"}
            )
        if slot.starts_at <= now:
            raise Conflict("slot has already started", {"slot_id": str(slot_id)})
        self._roll_month(now)
        if (
            self.max_monthly_bookings is not None
            and self.month_bookings >= self.max_monthly_bookings
        ):
            raise LimitExceeded(
                "the plan's monthly booking limit is reached",
                {"max_monthly_bookings": self.max_monthly_bookings},
            )
        reserved = 0 if for_waitlist else self.waitlist_reserved.get(slot_id, 0)
        if slot.available - reserved < qty:
            # Places whose hold is due count as free (the timer may not have run yet).
            self.expire_due(now, effects, slot_id=slot_id)
        if slot.available - reserved < qty:
            details: dict[str, Any] = {
                "slot_id": str(slot_id),
                "available": max(0, slot.available - reserved),
                "requested": qty,
            }
            if reserved:
                details["reserved_for_waitlist"] = reserved
            raise SoldOut("not enough places left in this slot", details)
        if for_waitlist:
            self.reserve_for_waitlist(slot_id, self.waitlist_reserved.get(slot_id, 0) - qty)
        hold = HoldState(
            hold_id=new_id,
            tenant_id=self.tenant_id,
            slot_id=slot_id,
            user_id=user_id,
            qty=qty,
            status=HoldStatus.HELD,
            idempotency_key=idempotency_key,
            expires_at=now + (self.hold_ttl if ttl is None else ttl),
            created_at=now,
            updated_at=now,
            extras=extras,
        )
        slot.held_qty += qty
        self.month_bookings += 1
        self.track(hold)
        effects.record_hold(hold, is_new=True)
        self._changed(slot, effects)
        effects.audits.append(self._audit(user_id, "hold.created", hold))
        return hold

    def reserve_for_waitlist(self, slot_id: UUID, qty: int) -> int:
        """Keep ``qty`` places of the slot for its waiting list (0 or less: none); returns
        the reservation now in force."""
        if qty > 0:
            self.waitlist_reserved[slot_id] = qty
            return qty
        self.waitlist_reserved.pop(slot_id, None)
        return 0

    def release_hold(
        self,
        hold: HoldState,
        *,
        by_user: UUID,
        may_release_any: bool,
        now: datetime,
        effects: Effects,
    ) -> HoldState:
        """Give the places back. A released or expired hold is answered unchanged (its places
        are already back, and retries are safe); a confirmed hold cannot be released
        (Conflict)."""
        if hold.user_id != by_user and not may_release_any:
            raise Forbidden("only the holder or the tenant's staff may release a hold")
        if hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return hold
        if hold.status is HoldStatus.HELD and hold.expires_at <= now:
            return self._finish(hold, HoldStatus.EXPIRED, None, now, effects)
        if hold.status is not HoldStatus.HELD:
            raise Conflict(f"hold is {hold.status}", {"status": str(hold.status)})
        return self._finish(hold, HoldStatus.RELEASED, by_user, now, effects)

    def confirm_hold(self, hold: HoldState, *, now: datetime, effects: Effects) -> HoldState:
        """Turn a live hold into a confirmed booking (idempotent for a confirmed hold)."""
        if hold.status is HoldStatus.CONFIRMED:
            return hold
        if hold.status is HoldStatus.HELD and hold.expires_at <= now:
            self._finish(hold, HoldStatus.EXPIRED, None, now, effects)
            raise Conflict("hold has expired", {"status": "expired"})
        if hold.status is not HoldStatus.HELD:
            raise Conflict(f"hold is {hold.status}", {"status": str(hold.status)})
        slot = self._slot(hold.slot_id)
        slot.held_qty -= hold.qty
        slot.confirmed_qty += hold.qty
        confirmed = replace(hold, status=HoldStatus.CONFIRMED, updated_at=now)
        self._untrack(hold)
        effects.record_hold(confirmed, is_new=False)
        # available is unchanged, so no availability event; the row still changes.
        effects.slots[slot.slot_id] = slot
        effects.audits.append(self._audit(None, "hold.confirmed", confirmed))
        return confirmed

    def confirm_holds(
        self, holds: list[HoldState], *, now: datetime, effects: Effects
    ) -> tuple[HoldState, ...]:
        """A linked confirm: every hold becomes a booking, or none does. All already confirmed
        is answered unchanged (a retry); otherwise each must be live, else Conflict names the
        first that is not (``hold_id``, ``status``) and nothing is confirmed (a due hold is
        expired on the way)."""
        if all(h.status is HoldStatus.CONFIRMED for h in holds):
            return tuple(holds)
        for hold in holds:
            if hold.status is HoldStatus.HELD and hold.expires_at > now:
                continue
            status = hold.status
            if status is HoldStatus.HELD:
                self._finish(hold, HoldStatus.EXPIRED, None, now, effects)
                status = HoldStatus.EXPIRED
            raise Conflict(
                f"a hold of the group is {status}",
                {"hold_id": str(hold.hold_id), "status": str(status)},
            )
        return tuple(self.confirm_hold(h, now=now, effects=effects) for h in holds)

    def set_capacity(
        self, *, slot_id: UUID, capacity: int, now: datetime, effects: Effects
    ) -> SlotCapacitySet:
        """Change how many places the slot has. Holds that are due expire first; a capacity
        below the places still held plus confirmed is refused (Conflict, details ``held`` and
        ``confirmed``). A change of ``available`` is published like any other."""
        slot = self._slot(slot_id)
        self.expire_due(now, effects, slot_id=slot_id)
        if capacity < slot.held_qty + slot.confirmed_qty:
            raise Conflict(
                "capacity would be below the places already held and booked",
                {"held": slot.held_qty, "confirmed": slot.confirmed_qty},
            )
        before = slot.capacity
        if capacity != before:
            slot.capacity = capacity
            self._changed(slot, effects)
        return SlotCapacitySet(
            slot_id=slot_id, capacity_before=before, capacity=capacity, available=slot.available
        )

    def cancel_booking(
        self,
        hold: HoldState,
        *,
        by_user: UUID,
        may_cancel_any: bool,
        now: datetime,
        effects: Effects,
    ) -> HoldState:
        """A confirmed booking's places go back to the slot (a delta is published). Cancelling
        a cancelled booking answers it unchanged; anything else is a Conflict."""
        if hold.user_id != by_user and not may_cancel_any:
            raise Forbidden("only the booker or the tenant's staff may cancel a booking")
        if hold.status is HoldStatus.CANCELLED:
            return hold
        if hold.status is not HoldStatus.CONFIRMED:
            raise Conflict(
                f"only a confirmed booking can be cancelled; it is {hold.status}",
                {"status": str(hold.status)},
            )
        slot = self._slot(hold.slot_id)
        slot.confirmed_qty -= hold.qty
        self._roll_month(now)
        if self._month_of(hold.created_at) == self.month:
            self.month_bookings -= 1  # a cancelled booking no longer counts against the plan
        cancelled = replace(hold, status=HoldStatus.CANCELLED, updated_at=now)
        effects.record_hold(cancelled, is_new=False)
        self._changed(slot, effects)
        effects.audits.append(self._audit(by_user, "hold.cancelled", cancelled))
        return cancelled

    def reschedule_booking(
        self,
        hold: HoldState,
        *,
        to_slot_id: UUID,
        by_user: UUID,
        may_reschedule_any: bool,
        idempotency_key: str,
        existing: Reschedule | None,
        now: datetime,
        effects: Effects,
    ) -> Reschedule:
        """Move a confirmed booking to another slot of this tenant: the old slot's confirmed
        places go down, the new slot's go up, and both streams get a delta.

        ``existing`` is the move made earlier with this key: it is answered as it was (the
        booking may have moved again since). Raises Forbidden (neither the booker nor the
        tenant's staff), Conflict (the key was used for another slot:
        ``exists_with_different_fields``; the booking is not confirmed; it is already in that
        slot: ``same_slot``; the slot is archived or has started), NotFound (no such slot in
        this tenant), SoldOut (fewer places left than the booking's qty).
        """
        if hold.user_id != by_user and not may_reschedule_any:
            raise Forbidden("only the booker or the tenant's staff may reschedule a booking")
        if existing is not None:
            if existing.to_slot_id != to_slot_id:
                raise Conflict(
                    "idempotency key was already used to move this booking to another slot",
                    {"reason": "exists_with_different_fields", "slot_id": str(existing.to_slot_id)},
                )
            return existing
        if hold.status is not HoldStatus.CONFIRMED:
            raise Conflict(
                f"only a confirmed booking can be rescheduled; it is {hold.status}",
                {"status": str(hold.status)},
            )
        if to_slot_id == hold.slot_id:
            raise Conflict(
                "the booking is already in this slot",
                {"slot_id": str(to_slot_id), "reason": "same_slot"},
            )
        target = self._slot(to_slot_id)
        if target.tenant_id != self.tenant_id:
            raise NotFound("no such slot", {"slot_id": str(to_slot_id)})
        if not target.bookable:
            raise Conflict(
                "this resource is archived", {"slot_id": str(to_slot_id), "reason": "archived"}
            )
        if target.starts_at <= now:
            raise Conflict("slot has already started", {"slot_id": str(to_slot_id)})
        if target.available < hold.qty:
            self.expire_due(now, effects, slot_id=to_slot_id)
        if target.available < hold.qty:
            raise SoldOut(
                "not enough places left in this slot",
                {"slot_id": str(to_slot_id), "available": target.available, "requested": hold.qty},
            )
        source = self._slot(hold.slot_id)
        source.confirmed_qty -= hold.qty
        target.confirmed_qty += hold.qty
        moved = replace(hold, slot_id=to_slot_id, updated_at=now)
        effects.record_hold(moved, is_new=False)
        self._changed(source, effects)
        self._changed(target, effects)
        record = Reschedule(
            hold_id=hold.hold_id,
            tenant_id=self.tenant_id,
            idempotency_key=idempotency_key,
            from_slot_id=source.slot_id,
            to_slot_id=to_slot_id,
            user_id=hold.user_id,
            by_user_id=by_user,
            qty=hold.qty,
            at=now,
        )
        effects.reschedules.append(record)
        audit = self._audit(by_user, "booking.rescheduled", moved)
        audit.data["from_slot_id"] = str(source.slot_id)
        effects.audits.append(audit)
        return record

    def expire_due(self, now: datetime, effects: Effects, *, slot_id: UUID | None = None) -> int:
        """Expire every live hold whose TTL has passed (only of ``slot_id`` if given)."""
        pool = self.active_holds if slot_id is None else self.holds_by_slot.get(slot_id, {})
        due = [h for h in pool.values() if h.expires_at <= now]
        for hold in sorted(due, key=lambda h: (h.expires_at, h.hold_id)):
            self._finish(hold, HoldStatus.EXPIRED, None, now, effects)
        return len(due)

    def track(self, hold: HoldState) -> None:
        """Count a live hold in (also used when loading state from the database)."""
        self.active_holds[hold.hold_id] = hold
        self.holds_by_slot.setdefault(hold.slot_id, {})[hold.hold_id] = hold

    def _untrack(self, hold: HoldState) -> None:
        self.active_holds.pop(hold.hold_id, None)
        of_slot = self.holds_by_slot.get(hold.slot_id)
        if of_slot is not None:
            of_slot.pop(hold.hold_id, None)
            if not of_slot:
                del self.holds_by_slot[hold.slot_id]

    def next_expiry(self) -> datetime | None:
        return min((h.expires_at for h in self.active_holds.values()), default=None)

    # -- internals -----------------------------------------------------------------------------

    def _slot(self, slot_id: UUID) -> SlotState:
        slot = self.slots.get(slot_id)
        if slot is None:
            raise NotFound("no such slot", {"slot_id": str(slot_id)})
        return slot

    def _finish(
        self,
        hold: HoldState,
        status: HoldStatus,
        by_user: UUID | None,
        now: datetime,
        effects: Effects,
    ) -> HoldState:
        slot = self._slot(hold.slot_id)
        slot.held_qty -= hold.qty
        self._roll_month(now)
        if self._month_of(hold.created_at) == self.month:
            self.month_bookings -= 1  # a released or expired hold is no booking
        finished = replace(hold, status=status, updated_at=now)
        self._untrack(hold)
        effects.record_hold(finished, is_new=False)
        self._changed(slot, effects)
        effects.audits.append(self._audit(by_user, f"hold.{status}", finished))
        return finished

    def _month_of(self, at: datetime) -> tuple[int, int]:
        local = at.astimezone(ZoneInfo(self.timezone))
        return (local.year, local.month)

    def _roll_month(self, now: datetime) -> None:
        month = self._month_of(now)
        if month != self.month:
            self.month, self.month_bookings = month, 0

    def _changed(self, slot: SlotState, effects: Effects) -> None:
        seq = self.stream_seq.get(slot.stream, 0) + 1
        self.stream_seq[slot.stream] = seq
        effects.slots[slot.slot_id] = slot
        effects.events.append(
            AvailabilityEvent(self.tenant_id, slot.stream, seq, slot.slot_id, slot.available)
        )

    def _audit(self, actor: UUID | None, action: str, hold: HoldState) -> AuditEntry:
        return AuditEntry(
            tenant_id=self.tenant_id,
            actor_user_id=actor,
            action=action,
            subject_id=hold.hold_id,
            data={"slot_id": str(hold.slot_id), "qty": hold.qty, "user_id": str(hold.user_id)},
        )
