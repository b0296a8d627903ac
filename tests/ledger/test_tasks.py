"""Celery task bodies called directly, their retry policy, and the beat schedule migration."""
from datetime import timedelta

import pytest
from django.db import OperationalError
from django_celery_beat.models import PeriodicTask

from ledger import clock, tasks
from ledger.models import EntryType, GrantKind, LedgerEntry
from ledger.services.grants import grant_create
from ledger.services.usage import task_create
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_complete_task_body_charges_once(account, actor):
    grant_create(account_id=account.pk, amount=100, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g")
    task = task_create(account_id=account.pk, tier="standard", actor=actor).task
    assert tasks.usage_task_complete(task.pk, "5.0") == {"task": task.pk, "credits": 50, "shortfall": 0, "replayed": False}
    assert tasks.usage_task_complete(task.pk, "5.0")["replayed"] is True
    assert LedgerEntry.objects.filter(entry_type=EntryType.DEBIT).count() == 1


def test_fail_task_body_never_charges(account, actor):
    grant_create(account_id=account.pk, amount=100, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g")
    task = task_create(account_id=account.pk, tier="standard", actor=actor, estimated_duration_seconds="3").task
    assert tasks.usage_task_fail(task.pk, "boom") == {"task": task.pk, "replayed": False}
    account.refresh_from_db()
    assert account.balance == 100


def test_expire_and_refill_bodies_report_counts(workspace, actor):
    account = AccountFactory(workspace=workspace, refill_interval="daily", refill_amount=5)
    now = clock.now()
    grant_create(account_id=account.pk, amount=9, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g",
                 effective_from=now - timedelta(days=2), expires_at=now - timedelta(days=1))
    assert tasks.credits_expire_due() == {"lots": 1, "credits": 9, "batches": 1}
    assert tasks.credits_refill_due() == {"refilled": 1, "added": 5, "removed": 0}
    assert tasks.usage_charge_uncharged() == 0
    assert tasks.usage_holds_release() == 0


def test_tasks_retry_with_backoff_on_database_errors():
    for task in (tasks.usage_task_complete, tasks.credits_expire_due, tasks.credits_refill_due, tasks.usage_charge_uncharged):
        assert OperationalError in task.autoretry_for
        assert task.retry_backoff is True


def test_beat_schedule_is_in_the_database():
    schedule = {task.name: task for task in PeriodicTask.objects.select_related("crontab", "interval")}
    assert schedule["Expire due credits (daily)"].task == "ledger.tasks.credits_expire_due"
    assert schedule["Expire due credits (daily)"].crontab.hour == "0"
    assert schedule["Refill credits (daily)"].task == "ledger.tasks.credits_refill_due"
    assert schedule["Charge uncharged usage tasks"].interval.every == 5
    assert schedule["Release expired usage holds"].task == "ledger.tasks.usage_holds_release"
    assert schedule["Consistency report (daily)"].task == "ledger.tasks_reports.consistency_report_daily"
    assert schedule["Credit summary (every 10 minutes)"].task == "ledger.tasks_reports.daily_summary_refresh"
    assert schedule["Credit summary (every 10 minutes)"].interval.every == 10
    assert all(task.enabled for task in schedule.values())


def test_every_scheduled_task_is_registered_with_the_worker():
    from creditsite.celery import app

    app.loader.import_default_modules()
    names = set(PeriodicTask.objects.exclude(task="celery.backend_cleanup").values_list("task", flat=True))
    assert names and names <= set(app.tasks)
