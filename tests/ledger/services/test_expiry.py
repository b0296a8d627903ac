"""Expiry: set-based batches, idempotent, safe in two workers, invariants kept."""
import random
from datetime import timedelta

import pytest
from django.core.management import call_command

from ledger import clock
from ledger.exceptions import InsufficientCredits
from ledger.models import EntryType, Grant, GrantKind, LedgerEntry
from ledger.services.accounts import account_overdraft_set
from ledger.services.debits import debit_create
from ledger.services.expiry import grants_expire_due
from ledger.services.grants import grant_create
from tests.concurrency import run_in_threads
from tests.factories import AccountFactory

from ..invariants import assert_account_consistent

pytestmark = pytest.mark.django_db


def grant(account, actor, amount, expires_in, key):
    now = clock.now()
    return grant_create(
        account_id=account.pk, amount=amount, kind=GrantKind.PURCHASE, actor=actor, idempotency_key=key,
        effective_from=now - timedelta(days=400), expires_at=now + expires_in,
    ).grant


def test_due_lots_expire_with_an_entry_and_totals(account, actor):
    old = grant(account, actor, 100, timedelta(days=-1), "a")
    fresh = grant(account, actor, 40, timedelta(days=10), "b")
    # A lot past its expiry is no longer spendable, so the debit draws the fresh one.
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="d")
    run = grants_expire_due(actor=actor)
    assert (run.lots, run.credits) == (1, 100)
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.remaining, old.expired_at is not None) == (0, True)
    assert (fresh.remaining, fresh.expired_at) == (10, None)
    account.refresh_from_db()
    assert (account.balance, account.total_expired) == (10, 100)
    entry = LedgerEntry.objects.get(entry_type=EntryType.EXPIRE)
    assert (entry.amount, entry.lot_id, entry.balance_before, entry.balance_after) == (-100, old.pk, 110, 10)
    assert_account_consistent(account.pk)


def test_running_expiry_twice_expires_once(account, actor):
    grant(account, actor, 100, timedelta(days=-1), "a")
    assert grants_expire_due(actor=actor).lots == 1
    assert grants_expire_due(actor=actor).lots == 0
    assert LedgerEntry.objects.filter(entry_type=EntryType.EXPIRE).count() == 1


def test_many_lots_of_many_accounts_chain_across_small_batches(workspace, actor):
    accounts = [AccountFactory(workspace=workspace) for _ in range(3)]
    for index, account in enumerate(accounts):
        for lot in range(5):
            grant(account, actor, 10 + lot, timedelta(days=-(lot + index + 1)), f"g{lot}")
    # The 2 earliest due lots (7 and 6 days ago) belong to accounts 2 and 1: the first batch
    # expires all ten of their due lots, the second account 0's five.
    run = grants_expire_due(actor=actor, batch_size=2)
    assert run.lots == 15 and run.batches == 2
    for account in accounts:
        account.refresh_from_db()
        assert account.balance == 0 and account.total_expired == 60
        assert_account_consistent(account.pk)


def test_lots_lapsing_together_update_each_account_once(workspace, actor, django_assert_num_queries):
    """Lot n of every account expires at the same moment: a batch still takes whole accounts,
    so each account row is written (and balance-checked at commit) once, not once per lot."""
    accounts = [AccountFactory(workspace=workspace) for _ in range(3)]
    for lot in range(4):
        for account in accounts:
            grant(account, actor, 10, timedelta(minutes=-(10 - lot)), f"g{lot}")
    # Keyset page (lot 0 of each account), the batch's savepoint (the test's transaction
    # wraps it), lock, summary, entries, accounts, lots, release; then the empty last page.
    with django_assert_num_queries(9):
        run = grants_expire_due(actor=actor, batch_size=3)
    assert (run.lots, run.batches, run.accounts) == (12, 1, 3)
    for account in accounts:
        account.refresh_from_db()
        assert (account.balance, account.total_expired, account.entry_seq) == (0, 40, 8)
        assert_account_consistent(account.pk)


def test_lot_due_later_is_expired_by_a_later_run(account, actor):
    lot = grant(account, actor, 50, timedelta(hours=2), "a")
    assert grants_expire_due(actor=actor).lots == 0
    assert grants_expire_due(actor=actor, at=clock.now() + timedelta(hours=3)).lots == 1
    lot.refresh_from_db()
    assert lot.remaining == 0


def test_expire_credits_command_prints_what_it_did(account, actor, capsys):
    grant(account, actor, 100, timedelta(days=-1), "a")
    call_command("expire_credits")
    assert "expired 1 lots (100 credits) in 1 batches" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(12))
def test_random_histories_keep_invariants_through_expiry(workspace, actor, seed):
    """A property check without hypothesis: random grants, debits and expiry runs."""
    rng = random.Random(seed)
    accounts = [AccountFactory(workspace=workspace) for _ in range(3)]
    account_overdraft_set(account_id=accounts[0].pk, limit=50, actor=actor, reason="test")
    start = clock.now()
    for step in range(30):
        account = rng.choice(accounts)
        action = rng.random()
        if action < 0.45:
            grant(account, actor, rng.randint(1, 80), timedelta(hours=rng.randint(-48, 48)), f"g{step}")
        elif action < 0.85:
            try:
                debit_create(account_id=account.pk, amount=rng.randint(1, 60), actor=actor, idempotency_key=f"d{step}")
            except InsufficientCredits:
                pass
        else:
            grants_expire_due(actor=actor, at=start + timedelta(hours=rng.randint(0, 24)), batch_size=rng.randint(1, 5))
    grants_expire_due(actor=actor, at=start + timedelta(days=3), batch_size=3)
    for account in accounts:
        assert_account_consistent(account.pk)
        assert not Grant.objects.filter(account=account, remaining__gt=0, expires_at__lte=start + timedelta(days=3)).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_expiring_at_once_expire_each_lot_once(workspace, actor):
    accounts = [AccountFactory(workspace=workspace) for _ in range(6)]
    for account in accounts:
        for lot in range(8):
            grant(account, actor, 5 + lot, timedelta(minutes=-(lot + 1)), f"g{lot}")
    results, errors = run_in_threads(lambda _: grants_expire_due(actor=actor, batch_size=5).lots, 2)
    assert errors == []
    assert all(isinstance(result, int) for result in results), results
    assert sum(results) == 48
    assert LedgerEntry.objects.filter(entry_type=EntryType.EXPIRE).count() == 48
    for account in accounts:
        assert_account_consistent(account.pk)
