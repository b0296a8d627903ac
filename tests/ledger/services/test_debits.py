"""Debits draw lots in order, respect the overdraft limit, and refund to the same lots."""
from datetime import timedelta

import pytest
from django.db import transaction

from ledger import clock
from ledger.exceptions import AccountNotFound, IdempotencyConflict, InsufficientCredits, InvalidInput, InvalidState
from ledger.models import Allocation, EntryType, Grant, GrantKind, LedgerEntry
from ledger.services.accounts import account_overdraft_set
from ledger.services.debits import debit_create, refund_create
from ledger.services.grants import grant_create, grant_void
from ledger.services.postings import lots_spendable

from ..helpers import nothing_written, snapshot

# Every test here runs through both debit paths (ledger_debit on PostgreSQL, Python).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("debit_path")]


def grant(account, actor, amount, key, **kwargs):
    kwargs.setdefault("kind", GrantKind.PURCHASE)
    return grant_create(account_id=account.pk, amount=amount, actor=actor, idempotency_key=key, **kwargs).grant


def remaining(*lots):
    return [Grant.objects.get(pk=lot.pk).remaining for lot in lots]


def test_debit_draws_lower_priority_number_first(account, actor):
    late = grant(account, actor, 10, "a", priority=90)
    early = grant(account, actor, 10, "b", priority=10)
    debit_create(account_id=account.pk, amount=12, actor=actor, idempotency_key="d")
    assert remaining(early, late) == [0, 8]


def test_debit_draws_earliest_expiring_lot_first_and_never_expiring_last(account, actor):
    now = clock.now()
    never = grant(account, actor, 10, "n", expires_at=None)
    later = grant(account, actor, 10, "l", expires_at=now + timedelta(days=60))
    sooner = grant(account, actor, 10, "s", expires_at=now + timedelta(days=5))
    debit_create(account_id=account.pk, amount=15, actor=actor, idempotency_key="d")
    assert remaining(sooner, later, never) == [0, 5, 10]
    debit_create(account_id=account.pk, amount=10, actor=actor, idempotency_key="d2")
    assert remaining(sooner, later, never) == [0, 0, 5]


def test_debit_draws_oldest_lot_first_when_priority_and_expiry_tie(account, actor):
    older = grant(account, actor, 10, "o", expires_at=None)
    newer = grant(account, actor, 10, "n", expires_at=None)
    debit_create(account_id=account.pk, amount=4, actor=actor, idempotency_key="d")
    assert remaining(older, newer) == [6, 10]


def test_debit_skips_lots_not_yet_effective_or_past_expiry(account, actor):
    now = clock.now()
    future = grant(account, actor, 10, "f", effective_from=now + timedelta(days=1), expires_at=None)
    usable = grant(account, actor, 5, "u", expires_at=None)
    with nothing_written(), pytest.raises(InsufficientCredits) as error:
        debit_create(account_id=account.pk, amount=6, actor=actor, idempotency_key="d")
    assert (error.value.balance, error.value.available, error.value.amount) == (15, 5, 6)
    debit_create(account_id=account.pk, amount=5, actor=actor, idempotency_key="d")
    assert remaining(future, usable) == [10, 0]


def test_debit_records_allocations_and_entry(account, actor):
    a = grant(account, actor, 10, "a", priority=1)
    b = grant(account, actor, 10, "b", priority=2)
    result = debit_create(account_id=account.pk, amount=14, actor=actor, idempotency_key="d", source="task", source_id="t1")
    assert [(x.lot_id, x.amount) for x in result.allocations] == [(a.pk, 10), (b.pk, 4)]
    entry = result.entry
    assert (entry.entry_type, entry.amount, entry.balance_before, entry.balance_after) == (EntryType.DEBIT, -14, 20, 6)
    assert (entry.source, entry.source_id, entry.seq) == ("task", "t1", 3)
    account.refresh_from_db()
    assert (account.balance, account.total_spent) == (6, 14)


def test_insufficient_credits_names_account_balance_and_amount_and_writes_nothing(account, actor):
    grant(account, actor, 30, "g")
    with nothing_written(), pytest.raises(InsufficientCredits) as error:
        debit_create(account_id=account.pk, amount=31, actor=actor, idempotency_key="d")
    message = str(error.value)
    assert f"account {account.pk}" in message and "balance 30" in message and "asked 31" in message


def test_overdraft_limit_lets_a_debit_go_into_debt_up_to_the_limit(account, actor):
    grant(account, actor, 10, "g")
    account_overdraft_set(account_id=account.pk, limit=25, actor=actor, reason="trusted customer")
    result = debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="d")
    account.refresh_from_db()
    assert (account.balance, account.debt) == (-20, 20)
    assert [(x.lot_id is None, x.amount) for x in result.allocations] == [(False, 10), (True, 20)]
    with nothing_written(), pytest.raises(InsufficientCredits):
        debit_create(account_id=account.pk, amount=6, actor=actor, idempotency_key="d2")
    debit_create(account_id=account.pk, amount=5, actor=actor, idempotency_key="d3")
    account.refresh_from_db()
    assert (account.balance, account.debt) == (-25, 25)


def test_new_grant_pays_debt_first(account, actor):
    account_overdraft_set(account_id=account.pk, limit=50, actor=actor, reason="x")
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="d")
    lot = grant(account, actor, 100, "g")
    account.refresh_from_db()
    assert (account.balance, account.debt, remaining(lot)) == (70, 0, [70])


def test_overdraft_limit_cannot_go_below_current_debt(account, actor):
    account_overdraft_set(account_id=account.pk, limit=50, actor=actor, reason="x")
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="d")
    with nothing_written(), pytest.raises(InvalidInput, match="overdraft_limit: must be at least the current debt"):
        account_overdraft_set(account_id=account.pk, limit=10, actor=actor, reason="x")


def test_debit_replay_returns_first_result_and_conflict_on_other_amount(account, actor):
    grant(account, actor, 50, "g")
    first = debit_create(account_id=account.pk, amount=20, actor=actor, idempotency_key="d")
    before = snapshot()
    again = debit_create(account_id=account.pk, amount=20, actor=actor, idempotency_key="d")
    assert again.replayed and again.entry.pk == first.entry.pk
    assert [a.pk for a in again.allocations] == [a.pk for a in first.allocations]
    assert snapshot() == before
    with nothing_written(), pytest.raises(IdempotencyConflict):
        debit_create(account_id=account.pk, amount=21, actor=actor, idempotency_key="d")


def test_refund_returns_credits_to_the_lots_they_came_from(account, actor):
    a = grant(account, actor, 10, "a", priority=1)
    b = grant(account, actor, 10, "b", priority=2)
    c = grant(account, actor, 10, "c", priority=3)
    debit = debit_create(account_id=account.pk, amount=25, actor=actor, idempotency_key="d").entry
    assert remaining(a, b, c) == [0, 0, 5]
    refund = refund_create(debit_entry_id=debit.pk, amount=8, actor=actor, idempotency_key="r", reason="failed")
    # Latest draw first: 5 back into c, then 3 into b.
    assert remaining(a, b, c) == [0, 3, 10]
    assert (refund.entry.entry_type, refund.entry.amount, refund.entry.refund_of_id) == (EntryType.REFUND, 8, debit.pk)
    refund_create(debit_entry_id=debit.pk, actor=actor, idempotency_key="r2", reason="rest")
    assert remaining(a, b, c) == [10, 10, 10]
    account.refresh_from_db()
    assert (account.balance, account.total_spent) == (30, 0)
    assert sorted(Allocation.objects.values_list("refunded", flat=True)) == [5, 10, 10]


def test_refund_more_than_left_is_refused(account, actor):
    grant(account, actor, 10, "a")
    debit = debit_create(account_id=account.pk, amount=6, actor=actor, idempotency_key="d").entry
    refund_create(debit_entry_id=debit.pk, amount=4, actor=actor, idempotency_key="r", reason="x")
    with nothing_written(), pytest.raises(InvalidInput, match="amount: must be between 1 and 2"):
        refund_create(debit_entry_id=debit.pk, amount=3, actor=actor, idempotency_key="r2", reason="x")


def test_refund_of_a_non_debit_or_without_reason_is_refused(account, actor):
    lot = grant_create(account_id=account.pk, amount=10, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="a")
    with nothing_written(), pytest.raises(InvalidState, match="not a debit"):
        refund_create(debit_entry_id=lot.entry.pk, actor=actor, idempotency_key="r", reason="x")
    debit = debit_create(account_id=account.pk, amount=6, actor=actor, idempotency_key="d").entry
    with nothing_written(), pytest.raises(InvalidInput, match="reason"):
        refund_create(debit_entry_id=debit.pk, actor=actor, idempotency_key="r", reason=" ")


def test_refund_into_a_voided_lot_comes_back_as_a_new_refund_lot(account, actor):
    lot = grant(account, actor, 10, "a")
    debit = debit_create(account_id=account.pk, amount=4, actor=actor, idempotency_key="d").entry
    grant_void(grant_id=lot.pk, actor=actor, reason="chargeback", idempotency_key="v")
    refund_create(debit_entry_id=debit.pk, actor=actor, idempotency_key="r", reason="failed")
    account.refresh_from_db()
    refund_lot = Grant.objects.get(kind=GrantKind.REFUND)
    assert (refund_lot.remaining, remaining(lot), account.balance) == (4, [0], 4)


def test_refund_of_debt_part_reduces_debt(account, actor):
    grant(account, actor, 10, "a")
    account_overdraft_set(account_id=account.pk, limit=20, actor=actor, reason="x")
    debit = debit_create(account_id=account.pk, amount=25, actor=actor, idempotency_key="d").entry
    refund_create(debit_entry_id=debit.pk, amount=15, actor=actor, idempotency_key="r", reason="x")
    account.refresh_from_db()
    assert (account.balance, account.debt) == (-0, 0)


def test_debit_query_count_does_not_grow_with_lots(account, actor, debit_path, django_assert_num_queries):
    """Python path: lock, idempotency lookup, lots, lot update, entry, account update,
    allocation, one query each however many lots the account has; fast path: one statement.
    Plus the test's savepoint and release."""
    for n in range(5):
        grant(account, actor, 10, f"lot{n}", expires_at=None)
    debit_create(account_id=account.pk, amount=1, actor=actor, idempotency_key="warm")
    with django_assert_num_queries(3 if debit_path == "fast" else 9):
        debit_create(account_id=account.pk, amount=12, actor=actor, idempotency_key="d")


@pytest.mark.parametrize("account_id", [0, -1, 2**63, "x", None])
def test_debit_on_an_impossible_account_id_is_not_found(account, actor, account_id):
    with nothing_written(), pytest.raises(AccountNotFound):
        debit_create(account_id=account_id, amount=1, actor=actor, idempotency_key="d")


def test_debit_order_is_the_spendable_lots_order(account, actor):
    now = clock.now()
    for n, (priority, days) in enumerate([(50, None), (50, 3), (10, None), (50, 3), (90, 1), (10, 2)]):
        expires = None if days is None else now + timedelta(days=days)
        grant(account, actor, 5, f"l{n}", priority=priority, expires_at=expires)
    expected = [lot.pk for lot in lots_spendable(account=account, at=clock.now())]
    result = debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="all")
    assert [allocation.lot_id for allocation in result.allocations] == expected


def test_debit_on_another_workspaces_account_is_not_found(account, actor):
    grant(account, actor, 10, "g")
    with nothing_written(), pytest.raises(AccountNotFound):
        debit_create(account_id=account.pk, workspace_id=account.workspace_id + 1, amount=1, actor=actor,
                     idempotency_key="d")
    result = debit_create(account_id=account.pk, workspace_id=account.workspace_id, amount=1, actor=actor,
                          idempotency_key="d")
    assert result.entry.balance_after == 9


def test_debit_result_is_what_the_database_holds(account, actor, staff_actor):
    """The entry and allocations debit_create returns (built from ledger_debit's answer on
    the fast path) equal the rows as stored, field by field."""
    grant(account, actor, 10, "a", priority=1)
    grant(account, actor, 10, "b", priority=2)
    account_overdraft_set(account_id=account.pk, limit=10, actor=actor, reason="x")
    result = debit_create(account_id=account.pk, amount=25, actor=staff_actor, idempotency_key="d",
                          description="three ways", source="task", source_id="t9")
    stored = LedgerEntry.objects.get(pk=result.entry.pk)
    assert fields(result.entry) == fields(stored)
    assert [fields(a) for a in result.allocations] == [fields(a) for a in stored.allocations.order_by("id")]
    assert [a.amount for a in result.allocations] == [10, 10, 5]
    assert (stored.actor, stored.actor_user_id) == (staff_actor.label, staff_actor.user_id)
    assert not result.replayed and not result.entry._state.adding


def fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@pytest.mark.django_db(transaction=True)
def test_debit_create_refuses_to_run_inside_a_callers_transaction(account, actor):
    """Durable on both paths: the fast path's own-transaction statement is only taken
    outside any transaction; inside one, atomic(durable=True) refuses."""
    grant(account, actor, 10, "g")
    with transaction.atomic(), pytest.raises(RuntimeError, match="durable"):
        debit_create(account_id=account.pk, amount=1, actor=actor, idempotency_key="d")
    assert debit_create(account_id=account.pk, amount=1, actor=actor, idempotency_key="d").entry.balance_after == 9


def test_refund_after_the_lot_expired_comes_back_already_due_and_is_then_expired(account, actor, monkeypatch):
    from ledger.services.expiry import grants_expire_due

    start = clock.now()
    lot = grant(account, actor, 10, "a", expires_at=start + timedelta(days=1))
    debit = debit_create(account_id=account.pk, amount=4, actor=actor, idempotency_key="d").entry
    later = start + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    grants_expire_due(actor=actor)
    refund_create(debit_entry_id=debit.pk, actor=actor, idempotency_key="r", reason="failed render")
    refund_lot = Grant.objects.get(kind=GrantKind.REFUND)
    assert (refund_lot.remaining, refund_lot.expires_at) == (4, lot.expires_at)
    assert list(lots_spendable(account=account, at=later)) == []
    with pytest.raises(InsufficientCredits):
        debit_create(account_id=account.pk, amount=1, actor=actor, idempotency_key="d2")
    grants_expire_due(actor=actor)
    account.refresh_from_db()
    assert (account.balance, account.total_expired, account.total_spent) == (0, 10, 0)
