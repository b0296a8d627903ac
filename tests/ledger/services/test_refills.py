"""Refills: due once per period, month-end clamping, either-sign difference, two workers."""
from datetime import date, datetime, timedelta, timezone
from unittest import mock

import pytest
from django.core.management import call_command

from ledger.models import CreditAccount, EntryType, Grant, GrantKind, LedgerEntry
from ledger.services.accounts import account_overdraft_set
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from ledger.services.refills import account_refill, accounts_refill_due, refill_period_start
from tests.concurrency import run_in_threads
from tests.factories import AccountFactory

from ..invariants import assert_account_consistent

pytestmark = pytest.mark.django_db


def at(*args):
    return datetime(*args, tzinfo=timezone.utc)


def refilled_account(workspace, interval="monthly", day=1, amount=100):
    return AccountFactory(workspace=workspace, refill_interval=interval, refill_day=day, refill_amount=amount)


@pytest.mark.parametrize(
    "day, today, start",
    [
        (31, date(2026, 4, 30), date(2026, 4, 30)),  # 30-day month: on the 30th
        (31, date(2026, 4, 29), date(2026, 3, 31)),
        (31, date(2026, 2, 28), date(2026, 2, 28)),
        (30, date(2024, 2, 29), date(2024, 2, 29)),  # leap year
        (29, date(2025, 3, 1), date(2025, 2, 28)),
        (15, date(2026, 1, 14), date(2025, 12, 15)),
        (1, date(2026, 1, 1), date(2026, 1, 1)),
    ],
)
def test_monthly_period_starts_on_refill_day_clamped_to_month_end(day, today, start):
    assert refill_period_start(interval="monthly", day=day, today=today) == start


def test_first_refill_creates_refill_lot_and_entry(workspace, actor):
    account = refilled_account(workspace)
    result = account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 3, 9))
    assert result.refilled and result.amount == 100
    lot = Grant.objects.get(account=account, kind=GrantKind.REFILL)
    assert (lot.amount, lot.remaining, lot.expires_at) == (100, 100, None)
    account.refresh_from_db()
    assert account.balance == 100 and account.last_refill_at == at(2026, 5, 3, 9)
    assert_account_consistent(account.pk)


def test_refill_is_due_once_per_month_however_often_it_runs(workspace, actor):
    account = refilled_account(workspace, day=31)
    with mock.patch("ledger.clock.now", return_value=at(2026, 4, 30, 0, 5)):
        assert accounts_refill_due(actor=actor).refilled == 1
    debit_create(account_id=account.pk, amount=70, actor=actor, idempotency_key="spend")
    for moment in (at(2026, 4, 30, 23, 59), at(2026, 5, 1, 12), at(2026, 5, 30, 23)):
        assert not account_refill(account_id=account.pk, actor=actor, at=moment).refilled
    result = account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 31, 1))
    assert result.refilled and result.amount == 70
    account.refresh_from_db()
    assert account.balance == 100
    assert LedgerEntry.objects.filter(account=account, entry_type=EntryType.REFILL).count() == 2
    assert_account_consistent(account.pk)


def test_daily_refill_once_per_day_in_workspace_time_zone(workspace, actor):
    workspace.timezone = "Asia/Tokyo"
    workspace.save()
    account = refilled_account(workspace, interval="daily", day=None, amount=10)
    assert account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 3, 14, 59)).refilled  # 23:59 Tokyo
    debit_create(account_id=account.pk, amount=4, actor=actor, idempotency_key="spend")
    assert account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 3, 15, 0)).refilled  # next day
    assert not account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 4, 14, 0)).refilled


def test_lowering_refill_amount_records_a_negative_refill(workspace, actor):
    account = refilled_account(workspace, amount=100)
    account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 1))
    CreditAccount.objects.filter(pk=account.pk).update(refill_amount=60)
    result = account_refill(account_id=account.pk, actor=actor, at=at(2026, 6, 1))
    assert result.amount == -40
    account.refresh_from_db()
    assert (account.balance, account.total_expired) == (60, 40)
    lot = Grant.objects.get(account=account, kind=GrantKind.REFILL)
    assert (lot.amount, lot.remaining) == (100, 60)  # drawn from, with an allocation
    refill = LedgerEntry.objects.get(account=account, amount=-40)
    assert [(a.lot_id, a.amount) for a in refill.allocations.all()] == [(lot.pk, 40)]
    assert_account_consistent(account.pk)


def test_a_refill_resets_the_balance_it_does_not_top_up(workspace, actor):
    """As the legacy keys table: what is left becomes the refill amount, whatever other lots
    made it up (here a migrated remainder of 500 and a refill of 100 leave 100, not 600)."""
    account = refilled_account(workspace, amount=100)
    grant_create(account_id=account.pk, amount=500, kind=GrantKind.MIGRATION, actor=actor, idempotency_key="m",
                 expires_at=None)
    result = account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 1))
    account.refresh_from_db()
    assert (result.amount, account.balance) == (-400, 100)
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="spend")
    assert account_refill(account_id=account.pk, actor=actor, at=at(2026, 6, 1)).amount == 30
    account.refresh_from_db()
    assert account.balance == 100
    assert_account_consistent(account.pk)


def test_refill_of_full_lot_writes_no_entry_but_stamps_time(workspace, actor):
    account = refilled_account(workspace)
    account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 1))
    result = account_refill(account_id=account.pk, actor=actor, at=at(2026, 6, 1))
    assert result.refilled and result.amount == 0
    assert LedgerEntry.objects.filter(account=account).count() == 1
    account.refresh_from_db()
    assert account.last_refill_at == at(2026, 6, 1)


def test_refill_pays_debt_first(workspace, actor):
    account = refilled_account(workspace)
    account_overdraft_set(account_id=account.pk, limit=50, actor=actor, reason="test")
    account_refill(account_id=account.pk, actor=actor, at=at(2026, 5, 1))
    debit_create(account_id=account.pk, amount=130, actor=actor, idempotency_key="spend")
    account_refill(account_id=account.pk, actor=actor, at=at(2026, 6, 1))
    account.refresh_from_db()
    assert (account.balance, account.debt) == (100, 0)  # a reset: the debt is paid and the balance is 100
    assert_account_consistent(account.pk)


def test_accounts_without_refill_policy_are_left_alone(workspace, actor):
    AccountFactory(workspace=workspace)
    assert accounts_refill_due(actor=actor).refilled == 0


def test_refill_credits_command_prints_what_it_did(workspace, capsys):
    refilled_account(workspace, interval="daily", day=None, amount=25)
    call_command("refill_credits")
    assert "refilled 1 accounts (+25 / -0 credits)" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_refilling_at_once_refill_each_account_once(workspace, actor):
    accounts = [refilled_account(workspace, day=31) for _ in range(10)]
    moment = at(2026, 4, 30, 6)
    results, errors = run_in_threads(lambda _: accounts_refill_due(actor=actor, at=moment, batch_size=3).refilled, 2)
    assert errors == []
    assert all(isinstance(result, int) for result in results), results
    assert sum(results) == 10
    assert LedgerEntry.objects.filter(entry_type=EntryType.REFILL).count() == 10
    for account in accounts:
        assert_account_consistent(account.pk)
        assert Grant.objects.filter(account=account, kind=GrantKind.REFILL).count() == 1
    assert accounts_refill_due(actor=actor, at=moment + timedelta(hours=12)).refilled == 0
