"""Grants: lots with expiry from the policy, validation, idempotency, voids."""
from datetime import timedelta
from decimal import Decimal

import pytest

from ledger import clock
from ledger.exceptions import AccountNotFound, IdempotencyConflict, InvalidAmount, InvalidInput
from ledger.models import EntryType, Grant, GrantKind, LedgerEntry
from ledger.services.grants import grant_create, grant_void
from ledger.services.policies import policy_update

from ..helpers import nothing_written, snapshot

pytestmark = pytest.mark.django_db


def test_grant_creates_lot_and_entry_and_moves_balance(account, actor):
    result = grant_create(account_id=account.pk, amount=250, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g1")
    account.refresh_from_db()
    assert (account.balance, account.total_earned, account.entry_seq) == (250, 250, 1)
    assert (result.grant.amount, result.grant.remaining) == (250, 250)
    assert (result.entry.entry_type, result.entry.amount, result.entry.balance_before, result.entry.balance_after) == (
        EntryType.GRANT, 250, 0, 250,
    )
    assert result.entry.actor == "system:tests" and not result.replayed


def test_grant_expires_after_policy_months_by_default(account, actor):
    result = grant_create(account_id=account.pk, amount=10, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g")
    assert result.grant.expires_at == clock.add_months(result.grant.effective_from, 6)


def test_grant_expiry_follows_workspace_policy_override(account, actor):
    policy_update(workspace_id=account.workspace_id, changes={"expiry_months": 0}, reason="promo", actor=actor)
    result = grant_create(account_id=account.pk, amount=10, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g")
    assert result.grant.expires_at is None


def test_same_key_returns_first_grant_and_writes_nothing(account, actor):
    first = grant_create(account_id=account.pk, amount=40, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="k")
    before = snapshot()
    again = grant_create(account_id=account.pk, amount=40, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="k")
    assert again.replayed and again.entry.pk == first.entry.pk and again.grant.pk == first.grant.pk
    assert snapshot() == before


def test_same_key_with_other_amount_is_a_conflict(account, actor):
    grant_create(account_id=account.pk, amount=40, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="k")
    with nothing_written(), pytest.raises(IdempotencyConflict, match="'k'"):
        grant_create(account_id=account.pk, amount=41, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="k")


@pytest.mark.parametrize(
    "amount, rule",
    [
        (0, "must not be zero"),
        (-5, "must be positive"),
        ("abc", "whole number"),
        (1.5, "not a float"),
        (Decimal("2.5"), "no fractions"),
        ("NaN", "finite"),
        (Decimal("Infinity"), "finite"),
        ("-inf", "finite"),
        (10**16, "at most"),
        (2**63, "at most"),
        (True, "whole number"),
        (None, "whole number"),
    ],
)
def test_bad_amounts_are_refused_naming_the_field_and_write_nothing(account, actor, amount, rule):
    with nothing_written(), pytest.raises(InvalidAmount, match=rule) as error:
        grant_create(account_id=account.pk, amount=amount, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="x")
    assert error.value.field == "amount"


def test_expiry_before_effective_date_is_refused(account, actor):
    now = clock.now()
    with nothing_written(), pytest.raises(InvalidInput, match="expires_at: must be after effective_from"):
        grant_create(
            account_id=account.pk, amount=5, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="x",
            effective_from=now, expires_at=now - timedelta(days=1),
        )


@pytest.mark.parametrize("field, kwargs", [
    ("kind", {"kind": "bonus"}),
    ("priority", {"priority": 101}),
    ("priority", {"priority": -1}),
    ("reason", {"kind": GrantKind.MANUAL, "reason": "  "}),
])
def test_bad_grant_parameters_are_refused(account, actor, field, kwargs):
    params = {"kind": GrantKind.PURCHASE} | kwargs
    with nothing_written(), pytest.raises(InvalidInput) as error:
        grant_create(account_id=account.pk, amount=5, actor=actor, idempotency_key="x", **params)
    assert error.value.field == field


def test_unknown_and_foreign_workspace_accounts_are_not_found(account, actor):
    from tests.factories import WorkspaceFactory

    other = WorkspaceFactory()
    for account_id, workspace_id in [(account.pk + 999, None), ("nope", None), (account.pk, other.pk)]:
        with nothing_written(), pytest.raises(AccountNotFound):
            grant_create(
                account_id=account_id, workspace_id=workspace_id, amount=5, kind=GrantKind.PURCHASE,
                actor=actor, idempotency_key="x",
            )


def test_void_removes_unspent_remainder_with_an_entry(account, actor):
    from ledger.services.debits import debit_create

    lot = grant_create(account_id=account.pk, amount=100, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g").grant
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="d")
    result = grant_void(grant_id=lot.pk, actor=actor, reason="chargeback", idempotency_key="v")
    account.refresh_from_db()
    lot.refresh_from_db()
    assert result.entry.amount == -70 and result.entry.entry_type == EntryType.VOID
    assert (lot.remaining, lot.voided_at is not None) == (0, True)
    assert (account.balance, account.total_expired) == (0, 70)
    again = grant_void(grant_id=lot.pk, actor=actor, reason="chargeback", idempotency_key="v")
    assert again.replayed and again.entry.pk == result.entry.pk
    assert LedgerEntry.objects.filter(entry_type=EntryType.VOID).count() == 1


def test_void_needs_a_reason_and_an_existing_grant(account, actor):
    lot = grant_create(account_id=account.pk, amount=10, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g").grant
    with nothing_written(), pytest.raises(InvalidInput, match="reason"):
        grant_void(grant_id=lot.pk, actor=actor, reason="", idempotency_key="v")
    with nothing_written(), pytest.raises(Exception, match="does not exist"):
        grant_void(grant_id=lot.pk + 100, actor=actor, reason="x", idempotency_key="v")
    assert Grant.objects.get(pk=lot.pk).voided_at is None
