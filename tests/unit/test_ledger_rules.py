"""The pure double-entry rules, without Ray or PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from actors.ledger import Ledger, LedgerEffects, PostSpec, TransferSpec, VoidSpec
from protocols.errors import Conflict, InsufficientFunds, Invalid
from storage.ledger_records import AccountState

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _account(currency="INR", limited=False, credits=0) -> AccountState:
    return AccountState(
        account_id=uuid.uuid4(),
        code="test",
        currency=currency,
        tenant_id=None,
        owner_user_id=None,
        limited=limited,
        debits_posted=0,
        credits_posted=credits,
        debits_pending=0,
        credits_pending=0,
        version=0,
    )


def _ledger(*accounts: AccountState) -> Ledger:
    return Ledger(accounts={a.account_id: a for a in accounts})


def _apply(ledger, *ops, existing=None, resolutions=None, now=NOW, effects=None):
    return ledger.apply_group(
        ops,
        existing={} if existing is None else existing,
        resolutions={} if resolutions is None else resolutions,
        now=now,
        effects=effects or LedgerEffects(),
    )


def test_a_limited_account_cannot_go_below_zero_counting_pending():
    wallet, revenue = _account(limited=True, credits=100), _account()
    ledger = _ledger(wallet, revenue)
    _apply(ledger, TransferSpec("p", wallet.account_id, revenue.account_id, 60, pending=True))
    with pytest.raises(InsufficientFunds) as err:
        _apply(ledger, TransferSpec("d", wallet.account_id, revenue.account_id, 41))
    assert err.value.details["available"] == 40
    _apply(ledger, TransferSpec("d2", wallet.account_id, revenue.account_id, 40))
    assert wallet.available == 0 and wallet.balance == 60


def test_an_unlimited_account_may_go_negative_and_debits_equal_credits():
    clearing, wallet = _account(), _account(limited=True)
    ledger = _ledger(clearing, wallet)
    effects = LedgerEffects()
    _apply(ledger, TransferSpec("t", clearing.account_id, wallet.account_id, 500), effects=effects)
    assert clearing.balance == -500 and wallet.balance == 500
    assert sum(d.debits_posted for d in effects.deltas.values()) == sum(
        d.credits_posted for d in effects.deltas.values()
    )


def test_same_id_same_fields_returns_the_original_and_a_difference_is_named():
    wallet, revenue = _account(limited=True, credits=100), _account()
    ledger = _ledger(wallet, revenue)
    existing: dict = {}
    [first] = _apply(
        ledger, TransferSpec("t", wallet.account_id, revenue.account_id, 10), existing=existing
    )
    [again] = _apply(
        ledger, TransferSpec("t", wallet.account_id, revenue.account_id, 10), existing=existing
    )
    assert again is first and wallet.balance == 90
    other = _account()
    ledger.accounts[other.account_id] = other
    with pytest.raises(Conflict) as err:
        _apply(
            ledger, TransferSpec("t", wallet.account_id, other.account_id, 10), existing=existing
        )
    assert err.value.details["reason"] == "exists_with_different_credit_account_id"


def test_partial_post_releases_the_rest_and_a_pending_resolves_once():
    wallet, revenue = _account(limited=True, credits=100), _account()
    ledger = _ledger(wallet, revenue)
    existing: dict = {}
    resolutions: dict = {}
    _apply(
        ledger,
        TransferSpec("p", wallet.account_id, revenue.account_id, 80, pending=True),
        existing=existing,
    )
    [post] = _apply(ledger, PostSpec("post", "p", 30), existing=existing, resolutions=resolutions)
    assert post.amount == 30
    assert (wallet.balance, wallet.available, wallet.debits_pending) == (70, 70, 0)
    assert (revenue.credits_posted, revenue.credits_pending) == (30, 0)
    for op in (PostSpec("post2", "p", 10), VoidSpec("void", "p")):
        with pytest.raises(Conflict) as err:
            _apply(ledger, op, existing=existing, resolutions=resolutions)
        assert err.value.details["reason"] == "already_posted"
    with pytest.raises(Invalid):
        _apply(
            ledger,
            TransferSpec("p2", wallet.account_id, revenue.account_id, 10, pending=True),
            PostSpec("post3", "p2", 11),
            existing=existing,
            resolutions=resolutions,
        )


def test_a_pending_transfer_times_out_and_cannot_be_posted_after():
    wallet, revenue = _account(limited=True, credits=100), _account()
    ledger = _ledger(wallet, revenue)
    existing: dict = {}
    resolutions: dict = {}
    _apply(
        ledger,
        TransferSpec("p", wallet.account_id, revenue.account_id, 50, pending=True, timeout_secs=60),
        existing=existing,
    )
    assert ledger.next_timeout() == NOW + timedelta(seconds=60)
    effects = LedgerEffects()
    assert ledger.expire_due(NOW + timedelta(seconds=61), effects) == ["p"]
    assert wallet.available == 100 and effects.resolutions[0].status == "expired"
    resolutions["p"] = effects.resolutions[0]
    with pytest.raises(Conflict) as err:
        _apply(ledger, PostSpec("post", "p"), existing=existing, resolutions=resolutions)
    assert err.value.details["reason"] == "already_expired"


def test_a_linked_group_is_all_or_nothing():
    inventory, tenant = _account("SMS", limited=True, credits=100), _account("SMS", limited=True)
    payable, sales = _account("INR"), _account("INR")
    poor = _account("INR", limited=True, credits=5)
    ledger = _ledger(inventory, tenant, payable, sales, poor)
    effects = LedgerEffects()
    with pytest.raises(InsufficientFunds):
        _apply(
            ledger,
            TransferSpec("g:units", inventory.account_id, tenant.account_id, 50),
            TransferSpec("g:sale", poor.account_id, sales.account_id, 1000),
            effects=effects,
        )
    assert (inventory.balance, tenant.balance, poor.balance) == (100, 0, 5)
    assert (not effects and not effects.deltas) or all(
        (d.debits_posted, d.credits_posted) == (0, 0) for d in effects.deltas.values()
    )
    [units, sale] = _apply(
        ledger,
        TransferSpec("g2:units", inventory.account_id, tenant.account_id, 50),
        TransferSpec("g2:sale", payable.account_id, sales.account_id, 1000),
    )
    assert units.linked_group == sale.linked_group == "g2:units"
    assert (inventory.balance, tenant.balance, sales.balance) == (50, 50, 1000)


def test_currencies_must_match_and_amounts_be_positive():
    inr, sms = _account("INR"), _account("SMS")
    ledger = _ledger(inr, sms)
    with pytest.raises(Invalid):
        _apply(ledger, TransferSpec("x", inr.account_id, sms.account_id, 1))
    other = _account("INR")
    ledger.accounts[other.account_id] = other
    with pytest.raises(Invalid):
        _apply(ledger, TransferSpec("y", inr.account_id, other.account_id, 0))


def test_a_failed_group_leaves_no_trace_for_the_rest_of_the_batch():
    inventory, tenant = _account("SMS", limited=True, credits=100), _account("SMS", limited=True)
    poor, sales = _account("INR", limited=True, credits=5), _account("INR")
    ledger = _ledger(inventory, tenant, poor, sales)
    existing: dict = {}
    with pytest.raises(InsufficientFunds):
        _apply(
            ledger,
            TransferSpec("g:units", inventory.account_id, tenant.account_id, 50),
            TransferSpec("g:sale", poor.account_id, sales.account_id, 1000),
            existing=existing,
        )
    assert "g:units" not in existing
    [alone] = _apply(
        ledger,
        TransferSpec("g:units", inventory.account_id, tenant.account_id, 50),
        existing=existing,
    )
    assert inventory.balance == 50 and alone.amount == 50
