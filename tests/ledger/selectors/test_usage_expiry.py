"""Selectors: tasks without credit deduction, shortfalls, credits expiring soon."""
from datetime import timedelta
from decimal import Decimal

import pytest

from ledger import clock
from ledger.models import GrantKind, UsageStatus, UsageTask
from ledger.selectors.expiry import account_expiring_soon, expiring_soon_report
from ledger.selectors.usage import tasks_undeducted, tasks_with_shortfall
from ledger.services.grants import grant_create
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def make_task(account, status, deducted, age_hours):
    moment = clock.now() - timedelta(hours=age_hours)
    return UsageTask.objects.create(
        workspace=account.workspace, account=account, tier="standard", status=status, credits_deducted=deducted,
        created_at=moment, completed_at=moment, output_duration_seconds=Decimal(1),
    )


def test_undeducted_lists_only_succeeded_uncharged_oldest_first(account, django_assert_num_queries):
    newer = make_task(account, UsageStatus.SUCCEEDED, False, 1)
    older = make_task(account, UsageStatus.SUCCEEDED, False, 5)
    make_task(account, UsageStatus.FAILED, False, 9)
    make_task(account, UsageStatus.RUNNING, False, 9)
    with django_assert_num_queries(1):
        assert list(tasks_undeducted(workspace_id=account.workspace_id)) == [older, newer]
    assert list(tasks_undeducted(completed_before=clock.now() - timedelta(hours=2))) == [older]


def test_shortfall_report_lists_tasks_the_balance_could_not_cover(account):
    task = make_task(account, UsageStatus.SUCCEEDED, True, 1)
    UsageTask.objects.filter(pk=task.pk).update(shortfall=12)
    assert list(tasks_with_shortfall()) == [task]


def test_expiring_soon_per_account_and_report(workspace, actor, django_assert_num_queries):
    first, second = AccountFactory(workspace=workspace), AccountFactory(workspace=workspace)
    now = clock.now()
    for account, amount, days, key in [(first, 30, 3, "a"), (first, 20, 20, "b"), (first, 99, 60, "c"), (second, 70, 5, "d")]:
        grant_create(account_id=account.pk, amount=amount, kind=GrantKind.PURCHASE, actor=actor,
                     idempotency_key=key, expires_at=now + timedelta(days=days))
    with django_assert_num_queries(1):
        assert account_expiring_soon(account_id=first.pk, days=30) == 50
    assert account_expiring_soon(account_id=first.pk, days=4) == 30
    with django_assert_num_queries(2):
        report = expiring_soon_report(days=30, workspace_id=workspace.pk)
    assert (report.total_credits, report.total_accounts) == (120, 2)
    assert [(row["account_id"], row["credits"], row["lots"]) for row in report.accounts] == [(second.pk, 70, 1), (first.pk, 50, 2)]
