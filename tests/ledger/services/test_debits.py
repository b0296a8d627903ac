"""Debits: consumption order, allocations, overdraft, idempotency, refunds, and their cost."""
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection

from ledger import clock
from ledger.exceptions import AccountNotFound, IdempotencyConflict, InsufficientCredits
from ledger.models import Allocation, CreditAccount, EntryType, Grant, GrantKind, LedgerEntry
from ledger.services.accounts import account_overdraft_set
from ledger.services.debits import debit_create, refund_create
from ledger.services.grants import grant_create, grant_void
from ledger.services.postings import lots_spendable

from ..helpers import nothing_written, snapshot

pytestmark = pytest.mark.django_db


def _lot(account, actor, amount, key, **kwargs):
    return grant_create(
        account_id=account.pk, amount=amount, kind=GrantKind.PURCHASE, actor=actor, idempotency_key=key,
        reason="test", **kwargs,
    ).grant


def _drawn(result):
    return [(allocation.lot_id, allocation.amount) for allocation in result.allocations]


def test_debit_draws_priority_then_earliest_expiry_then_never_expiring(account, actor):
    now = clock.now()
    never = _lot(account, actor, 10, "never", expires_at=None)
    late = _lot(account, actor, 10, "late", expires_at=now + timedelta(days=60))
    soon = _lot(account, actor, 10, "soon", expires_at=now + timedelta(days=5))
    first = _lot(account, actor, 10, "first", expires_at=None, priority=10)
    result = debit_create(account_id=account.pk, amount=35, actor=actor, idempotency_key="d")
    assert _drawn(result) == [(first.pk, 10), (soon.pk, 10), (late.pk, 10), (never.pk, 5)]
    remaining = dict(Grant.objects.values_list("pk", "remaining"))
    assert remaining == {first.pk: 0, soon.pk: 0, late.pk: 0, never.pk: 5}
    account.refresh_from_db()
    assert (account.balance, account.total_spent, account.entry_seq) == (5, 35, 5)
    assert (result.entry.entry_type, result.entry.amount, result.entry.balance_before, result.entry.balance_after) == (
        EntryType.DEBIT, -35, 40, 5,
    )


def test_debit_draws_the_oldest_of_equal_lots_first(account, actor):
    older = _lot(account, actor, 10, "a", expires_at=None)
    newer = _lot(account, actor, 10, "b", expires_at=None)
    assert _drawn(debit_create(account_id=account.pk, amount=12, actor=actor, idempotency_key="d")) == [
        (older.pk, 10), (newer.pk, 2),
    ]


def test_debit_skips_expired_voided_and_future_lots(account, actor):
    now = clock.now()
    live = _lot(account, actor, 10, "live", expires_at=None)
    _lot(account, actor, 10, "future", effective_from=now + timedelta(days=1), expires_at=None)
    voided = _lot(account, actor, 10, "voided", expires_at=None, priority=1)
    grant_void(grant_id=voided.pk, actor=actor, reason="test", idempotency_key="v")
    due = _lot(account, actor, 10, "due", expires_at=now + timedelta(hours=1), priority=1)
    later = now + timedelta(hours=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: later)
        result = debit_create(account_id=account.pk, amount=4, actor=actor, idempotency_key="d")
    assert _drawn(result) == [(live.pk, 4)]
    assert Grant.objects.get(pk=due.pk).remaining == 10


def test_debit_beyond_the_lots_is_refused_and_writes_nothing(account, actor):
    _lot(account, actor, 10, "a", expires_at=None)
    _lot(account, actor, 5, "b", expires_at=None)
    with nothing_written(), pytest.raises(InsufficientCredits, match="available 15, asked 16") as error:
        debit_create(account_id=account.pk, amount=16, actor=actor, idempotency_key="d")
    assert (error.value.field, error.value.balance) == ("amount", 15)


def test_debit_takes_the_rest_as_debt_within_the_overdraft_limit(account, actor):
    _lot(account, actor, 10, "a", expires_at=None)
    account_overdraft_set(account_id=account.pk, limit=5, actor=actor, reason="trusted")
    result = debit_create(account_id=account.pk, amount=14, actor=actor, idempotency_key="d")
    assert [(a.lot_id is None, a.amount) for a in result.allocations] == [(False, 10), (True, 4)]
    account.refresh_from_db()
    assert (account.balance, account.debt) == (-4, 4)
    with nothing_written(), pytest.raises(InsufficientCredits, match="available 1, asked 2"):
        debit_create(account_id=account.pk, amount=2, actor=actor, idempotency_key="d2")


def test_same_debit_key_returns_the_first_debit_and_writes_nothing(account, actor):
    _lot(account, actor, 10, "a", expires_at=None)
    first = debit_create(account_id=account.pk, amount=3, actor=actor, idempotency_key="k", source="task", source_id="7")
    before = snapshot()
    again = debit_create(account_id=account.pk, amount=3, actor=actor, idempotency_key="k", source="task", source_id="7")
    assert again.replayed and again.entry.pk == first.entry.pk and _drawn(again) == _drawn(first)
    assert snapshot() == before


def test_same_debit_key_with_other_parameters_is_a_conflict(account, actor):
    _lot(account, actor, 10, "a", expires_at=None)
    debit_create(account_id=account.pk, amount=3, actor=actor, idempotency_key="k")
    with nothing_written(), pytest.raises(IdempotencyConflict, match="'k'"):
        debit_create(account_id=account.pk, amount=4, actor=actor, idempotency_key="k")


def test_refund_returns_credits_to_the_lots_the_debit_drew(account, actor):
    a = _lot(account, actor, 10, "a", expires_at=None)
    b = _lot(account, actor, 10, "b", expires_at=None)
    debit = debit_create(account_id=account.pk, amount=15, actor=actor, idempotency_key="d")
    refund_create(debit_entry_id=debit.entry.pk, actor=actor, idempotency_key="r", reason="oops")
    assert dict(Grant.objects.values_list("pk", "remaining")) == {a.pk: 10, b.pk: 10}
    assert list(Allocation.objects.values_list("refunded", flat=True).order_by("pk")) == [10, 5]


def test_debit_query_count_does_not_grow_with_lots(account, actor, django_assert_num_queries):
    """Lock, idempotency lookup, lots, lot update, entry, account update, allocation: one
    query each however many lots the account has (plus the test's savepoint and release)."""
    for n in range(5):
        _lot(account, actor, 10, f"lot{n}", expires_at=None)
    debit_create(account_id=account.pk, amount=1, actor=actor, idempotency_key="warm")
    with django_assert_num_queries(9):
        debit_create(account_id=account.pk, amount=2, actor=actor, idempotency_key="d")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_never_overdraw_and_keep_the_chain(account, actor):
    _lot(account, actor, 50, "a", expires_at=None)
    _lot(account, actor, 50, "b", expires_at=None)

    def debit(n):
        try:
            debit_create(account_id=account.pk, amount=7, actor=actor, idempotency_key=f"d{n}")
            return True
        except InsufficientCredits:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(debit, range(20)))
    assert done.count(True) == 14  # 14 * 7 = 98 of 100
    account = CreditAccount.objects.get(pk=account.pk)
    assert (account.balance, account.entry_seq) == (2, 16)
    assert sum(Grant.objects.values_list("remaining", flat=True)) == 2
    assert list(LedgerEntry.objects.filter(account=account).order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 17)
    )


@pytest.mark.parametrize("account_id", [0, -1, 2**63, "x", None])
def test_debit_on_an_impossible_account_id_is_not_found(account, actor, account_id):
    with nothing_written(), pytest.raises(AccountNotFound):
        debit_create(account_id=account_id, amount=1, actor=actor, idempotency_key="d")


def test_debit_order_is_the_spendable_lots_order(account, actor):
    now = clock.now()
    for n, (priority, days) in enumerate([(50, None), (50, 3), (10, None), (50, 3), (90, 1), (10, 2)]):
        expires = None if days is None else now + timedelta(days=days)
        _lot(account, actor, 5, f"l{n}", priority=priority, expires_at=expires)
    expected = [lot.pk for lot in lots_spendable(account=account, at=clock.now())]
    result = debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="all")
    assert [lot_id for lot_id, _ in _drawn(result)] == expected
