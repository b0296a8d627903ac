"""Post-payment usage: soft check, pricing, exactly-once charge, holds, failures, sweeps."""
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.test import override_settings

from ledger import clock
from ledger.exceptions import IdempotencyConflict, InsufficientCredits, InvalidInput, InvalidState, NotFound
from ledger.models import EntryType, GrantKind, LedgerEntry, UsageStatus, UsageTask
from ledger.services.accounts import account_overdraft_set
from ledger.services.grants import grant_create
from ledger.services.policies import policy_update
from ledger.services.usage import (
    holds_release_expired,
    task_complete,
    task_create,
    task_fail,
    task_start,
    tasks_charge_uncharged,
    usage_price,
)
from tests.concurrency import run_in_threads

from ..helpers import nothing_written
from ..invariants import assert_account_consistent

pytestmark = pytest.mark.django_db


def fund(account, actor, amount=500, key="fund"):
    return grant_create(account_id=account.pk, amount=amount, kind=GrantKind.PURCHASE, actor=actor, idempotency_key=key)


@pytest.mark.parametrize(
    "tier, seconds, credits",
    [("standard", "5.0", 50), ("pro", "5.0", 70), ("standard", "0.05", 1), ("pro", "0.035", 0), ("pro", "1.25", 18)],
)
def test_price_is_per_second_of_the_tier_rounded_half_up(workspace, tier, seconds, credits):
    assert usage_price(workspace_id=workspace.pk, tier=tier, duration_seconds=Decimal(seconds)) == credits


def test_price_follows_workspace_policy(workspace, actor):
    policy_update(workspace_id=workspace.pk, changes={"price_pro_per_second": 20}, reason="new price", actor=actor)
    assert usage_price(workspace_id=workspace.pk, tier="pro", duration_seconds=Decimal("5.0")) == 100


def test_create_charges_nothing_and_complete_charges_price_once(account, actor):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="standard", actor=actor).task
    account.refresh_from_db()
    assert account.balance == 500 and task.status == UsageStatus.PENDING
    done = task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor).task
    account.refresh_from_db()
    assert account.balance == 450
    assert (done.status, done.credits_calculated, done.credits_deducted, done.shortfall) == ("succeeded", 50, True, 0)
    assert done.output_duration_seconds == Decimal("5.000")
    assert done.charge_entry.amount == -50 and done.charge_entry.entry_type == EntryType.DEBIT
    assert_account_consistent(account.pk)


def test_completion_delivered_twice_charges_once(account, actor):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="pro", actor=actor).task
    task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor)
    again = task_complete(task_id=task.pk, duration_seconds=5.0, actor=actor)
    assert again.replayed
    assert LedgerEntry.objects.filter(account=account, entry_type=EntryType.DEBIT).count() == 1
    account.refresh_from_db()
    assert account.balance == 430


def test_completion_with_other_duration_is_a_conflict(account, actor):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="pro", actor=actor).task
    task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor)
    with nothing_written(), pytest.raises(IdempotencyConflict):
        task_complete(task_id=task.pk, duration_seconds="6.0", actor=actor)


def test_soft_check_refuses_empty_account_and_writes_nothing(account, actor):
    with nothing_written(), pytest.raises(InsufficientCredits):
        task_create(account_id=account.pk, tier="standard", actor=actor)
    assert not UsageTask.objects.exists()


@override_settings(CREDITS_USAGE_MIN_BALANCE=100)
def test_soft_check_uses_configured_minimum(account, actor):
    fund(account, actor, amount=99)
    with pytest.raises(InsufficientCredits):
        task_create(account_id=account.pk, tier="standard", actor=actor)
    fund(account, actor, amount=1, key="more")
    assert task_create(account_id=account.pk, tier="standard", actor=actor).task.pk


def test_external_id_makes_creation_idempotent(account, actor):
    fund(account, actor)
    first = task_create(account_id=account.pk, tier="pro", actor=actor, external_id="job-1")
    again = task_create(account_id=account.pk, tier="pro", actor=actor, external_id="job-1")
    assert again.replayed and again.task.pk == first.task.pk
    with pytest.raises(IdempotencyConflict):
        task_create(account_id=account.pk, tier="standard", actor=actor, external_id="job-1")


@pytest.mark.parametrize("value", ["-1", "abc", "NaN", "1.0001", None, True])
def test_invalid_durations_are_refused(account, actor, value):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="pro", actor=actor).task
    with nothing_written(), pytest.raises(InvalidInput, match="duration_seconds"):
        task_complete(task_id=task.pk, duration_seconds=value, actor=actor)


def test_failed_task_is_never_charged(account, actor):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="pro", actor=actor).task
    task_start(task_id=task.pk, actor=actor)
    task_fail(task_id=task.pk, actor=actor, reason="render crashed")
    with pytest.raises(InvalidState, match="never charged"):
        task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor)
    assert not LedgerEntry.objects.filter(entry_type=EntryType.DEBIT).exists()
    assert task_fail(task_id=task.pk, actor=actor).replayed


def test_unknown_task_is_not_found(db, actor):
    with pytest.raises(NotFound):
        task_complete(task_id=999999, duration_seconds="1", actor=actor)


def test_shortfall_goes_into_debt_up_to_overdraft_limit_and_is_recorded(account, actor):
    fund(account, actor, amount=30)
    account_overdraft_set(account_id=account.pk, limit=15, actor=actor, reason="trusted")
    task = task_create(account_id=account.pk, tier="standard", actor=actor).task
    done = task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor).task
    account.refresh_from_db()
    assert (account.balance, account.debt) == (-15, 15)
    assert (done.credits_calculated, done.charge_entry.amount, done.shortfall) == (50, -45, 5)
    assert_account_consistent(account.pk)


@override_settings(CREDITS_USAGE_OVERDRAFT="lots")
def test_lots_only_policy_charges_what_lots_hold_and_records_shortfall(account, actor):
    fund(account, actor, amount=30)
    account_overdraft_set(account_id=account.pk, limit=100, actor=actor, reason="trusted")
    task = task_create(account_id=account.pk, tier="standard", actor=actor).task
    done = task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor).task
    account.refresh_from_db()
    assert (account.balance, account.debt, done.shortfall) == (0, 0, 20)


def test_hold_reserves_estimate_and_completion_captures_actual(account, actor):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="standard", actor=actor, estimated_duration_seconds="10").task
    account.refresh_from_db()
    assert account.balance == 400 and task.hold_amount == 100
    done = task_complete(task_id=task.pk, duration_seconds="3.5", actor=actor).task
    account.refresh_from_db()
    assert account.balance == 465 and done.credits_calculated == 35 and done.hold_released_at
    types = list(LedgerEntry.objects.filter(account=account).order_by("seq").values_list("entry_type", "amount"))
    assert types == [("grant", 500), ("hold", -100), ("release", 100), ("debit", -35)]
    assert_account_consistent(account.pk)


def test_failing_a_held_task_releases_the_hold(account, actor):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="pro", actor=actor, estimated_duration_seconds="5").task
    task_fail(task_id=task.pk, actor=actor)
    account.refresh_from_db()
    assert account.balance == 500 and account.total_spent == 0
    assert_account_consistent(account.pk)


def test_hold_past_timeout_is_released_once(account, actor):
    fund(account, actor)
    start = clock.now()
    task = task_create(account_id=account.pk, tier="pro", actor=actor, estimated_duration_seconds="5").task
    assert holds_release_expired(actor=actor) == 0
    with mock.patch("ledger.clock.now", return_value=start + timedelta(hours=3)):
        assert holds_release_expired(actor=actor) == 1
        assert holds_release_expired(actor=actor) == 0
        done = task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor).task
    account.refresh_from_db()
    assert account.balance == 430 and done.credits_deducted
    assert LedgerEntry.objects.filter(entry_type=EntryType.RELEASE).count() == 1
    assert_account_consistent(account.pk)


def test_sweep_charges_succeeded_tasks_that_were_never_charged(account, actor):
    fund(account, actor)
    lost = UsageTask.objects.create(
        workspace=account.workspace, account=account, tier="pro", status=UsageStatus.SUCCEEDED,
        created_at=clock.now() - timedelta(hours=1), completed_at=clock.now() - timedelta(hours=1),
        output_duration_seconds=Decimal("5"),
    )
    assert tasks_charge_uncharged(actor=actor) == 1
    assert tasks_charge_uncharged(actor=actor) == 0
    lost.refresh_from_db()
    account.refresh_from_db()
    assert lost.credits_deducted and lost.credits_calculated == 70 and account.balance == 430


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_completing_at_once_charge_once(account, actor):
    fund(account, actor)
    task = task_create(account_id=account.pk, tier="pro", actor=actor, estimated_duration_seconds="2").task
    results, errors = run_in_threads(lambda _: task_complete(task_id=task.pk, duration_seconds="5.0", actor=actor).replayed, 2)
    assert errors == []
    assert sorted(results) == [False, True]
    account.refresh_from_db()
    assert account.balance == 430
    assert LedgerEntry.objects.filter(account=account, entry_type=EntryType.DEBIT).count() == 1
    assert_account_consistent(account.pk)


def test_hold_larger_than_balance_refuses_the_task_and_writes_nothing(account, actor):
    fund(account, actor, amount=20)
    with nothing_written(), pytest.raises(InsufficientCredits):
        task_create(account_id=account.pk, tier="pro", actor=actor, estimated_duration_seconds="10")
    assert not UsageTask.objects.exists()
