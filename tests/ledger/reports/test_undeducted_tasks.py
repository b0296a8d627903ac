"""The undeducted-tasks report: tasks never charged (stale ones are findings) and tasks
charged short, exactly those planted and nothing else."""
from datetime import timedelta
from decimal import Decimal

import pytest

from ledger import clock
from ledger.models import UsageStatus, UsageTask
from ledger.reports import report_get

from ...factories import AccountFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def task(account, status=UsageStatus.SUCCEEDED, *, deducted=True, minutes_ago=60, completed=True, shortfall=0):
    moment = clock.now() - timedelta(minutes=minutes_ago)
    return UsageTask.objects.create(
        workspace=account.workspace, account=account, status=status, credits_deducted=deducted,
        created_at=moment - timedelta(seconds=30), completed_at=moment if completed else None,
        output_duration_seconds=Decimal(3), credits_calculated=30, shortfall=shortfall,
    )


@pytest.fixture
def accounts():
    return AccountFactory(workspace=WorkspaceFactory(slug="acme")), AccountFactory(workspace=WorkspaceFactory(slug="globex"))


def clean_tasks(account):
    task(account)
    task(account, UsageStatus.FAILED, deducted=False)
    task(account, UsageStatus.RUNNING, deducted=False, completed=False)
    task(account, UsageStatus.PENDING, deducted=False, completed=False)


def test_clean_usage_reports_clean(accounts):
    clean_tasks(accounts[0])
    output = report_get("undeducted-tasks").run()
    assert (output.findings, output.rows) == (0, [])
    assert output.summary == {"never charged": 0, "never charged, older than 15 min": 0, "charged short": 0,
                              "shortfall credits": 0}


def test_planted_uncharged_and_short_tasks_are_found_exactly(accounts):
    acme, globex = accounts
    clean_tasks(acme)
    old = task(acme, deducted=False, minutes_ago=120)
    imported = task(acme, deducted=False, minutes_ago=30, completed=False)  # no completion time: stale
    fresh = task(acme, deducted=False, minutes_ago=2)  # the sweep may still charge it: listed only
    elsewhere = task(globex, deducted=False, minutes_ago=600)
    small = task(acme, shortfall=4)
    large = task(globex, shortfall=25)
    output = report_get("undeducted-tasks").run()
    assert [(row[0], row[1]) for row in output.rows] == [
        ("undeducted", elsewhere.pk), ("undeducted", old.pk), ("undeducted", imported.pk), ("undeducted", fresh.pk),
        ("short", large.pk), ("short", small.pk),
    ]
    assert output.findings == 3
    assert output.summary == {"never charged": 4, "never charged, older than 15 min": 3, "charged short": 2,
                              "shortfall credits": 29}
    short = output.rows[4]
    assert short[3:5] == ["globex", globex.pk] and (short[8], short[9]) == (30, 25)
    assert output.rows[0][9] is None  # never charged: no shortfall measured


def test_workspace_filter_and_limit_per_section(accounts):
    acme, globex = accounts
    first, second = task(acme, deducted=False, minutes_ago=90), task(acme, deducted=False, minutes_ago=60)
    task(globex, deducted=False, minutes_ago=600)
    short = task(acme, shortfall=1)
    task(acme, shortfall=2)
    output = report_get("undeducted-tasks").run(workspace_id=acme.workspace_id)
    assert [row[1] for row in output.rows if row[0] == "undeducted"] == [first.pk, second.pk]
    assert output.findings == 2
    limited = report_get("undeducted-tasks").run(workspace_id=acme.workspace_id, limit=1)
    assert [(row[0], row[1]) for row in limited.rows] == [("undeducted", first.pk), ("short", short.pk + 1)]
    assert limited.findings == 2  # the count is not capped by the limit


def test_report_runs_in_bounded_queries(accounts, django_assert_num_queries):
    for minutes in (20, 40, 60):
        task(accounts[0], deducted=False, minutes_ago=minutes)
        task(accounts[1], shortfall=minutes)
    with django_assert_num_queries(5):
        report_get("undeducted-tasks").run(limit=20)
