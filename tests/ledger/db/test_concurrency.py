"""Concurrent writers on PostgreSQL: exact balances, no overdraft, an unbroken chain."""

import pytest

from ledger.actors import Actor
from ledger.exceptions import InsufficientCredits
from ledger.models import CreditAccount, LedgerEntry
from ledger.services.accounts import account_overdraft_set
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from tests.concurrency import run_in_threads
from tests.factories import AccountFactory

# Through both debit paths: ledger_debit and the Python posting core.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("debit_path")]

THREADS = 8


def assert_chain(account):
    entries = list(LedgerEntry.objects.filter(account=account).order_by("seq").values("seq", "balance_before", "balance_after"))
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    for previous, current in zip(entries, entries[1:]):
        assert current["balance_before"] == previous["balance_after"]
    account.refresh_from_db()
    assert account.balance == (entries[-1]["balance_after"] if entries else 0)


def test_parallel_debits_on_one_account_are_exact():
    account = AccountFactory()
    actor = Actor.system("concurrency")
    grant_create(account_id=account.pk, amount=1000, kind="purchase", actor=actor, idempotency_key="g", expires_at=None)

    def work(i):
        for n in range(10):
            debit_create(account_id=account.pk, amount=7, actor=actor, idempotency_key=f"d-{i}-{n}")

    _, errors = run_in_threads(work)
    assert errors == []
    account.refresh_from_db()
    assert account.balance == 1000 - THREADS * 10 * 7
    assert account.total_spent == THREADS * 10 * 7
    assert_chain(account)


def test_parallel_debits_never_pass_the_overdraft_limit():
    account = AccountFactory()
    actor = Actor.system("concurrency")
    grant_create(account_id=account.pk, amount=100, kind="purchase", actor=actor, idempotency_key="g", expires_at=None)
    account_overdraft_set(account_id=account.pk, limit=20, actor=actor, reason="test")

    def work(i):
        done = 0
        for n in range(5):
            try:
                debit_create(account_id=account.pk, amount=9, actor=actor, idempotency_key=f"d-{i}-{n}")
                done += 1
            except InsufficientCredits:
                pass
        return done

    results, errors = run_in_threads(work)
    assert errors == []
    account.refresh_from_db()
    assert sum(results) == 13  # 13 * 9 = 117 <= 120 < 126
    assert (account.balance, account.debt) == (100 - 117, 17)
    assert account.balance >= -account.overdraft_limit
    assert_chain(account)


def test_same_idempotency_key_racing_writes_once():
    account = AccountFactory()
    actor = Actor.system("concurrency")
    grant_create(account_id=account.pk, amount=100, kind="purchase", actor=actor, idempotency_key="g", expires_at=None)

    def work(i):
        return debit_create(account_id=account.pk, amount=10, actor=actor, idempotency_key="same").entry.pk

    results, errors = run_in_threads(work)
    assert errors == [] and len(set(results)) == 1
    assert CreditAccount.objects.get(pk=account.pk).balance == 90
