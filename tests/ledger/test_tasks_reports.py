"""The reports' Celery tasks store the consistency result and refresh the daily summary."""
from datetime import timedelta

import pytest

from ledger import clock
from ledger.actors import Actor
from ledger.exceptions import InvalidInput
from ledger.models import DailySummary, ReportResult
from ledger.services.summaries import daily_summary_catch_up
from ledger.tasks_reports import consistency_report_daily, daily_summary_refresh

from .reporting import defences_off, ledger_build

pytestmark = pytest.mark.django_db


def test_consistency_report_daily_stores_its_findings():
    ledger = ledger_build(workspaces=1, accounts_per_workspace=2)
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_creditaccount SET total_earned = total_earned + 1, total_spent = total_spent + 1 WHERE id = %s", [ledger.accounts[0].pk])
    outcome = consistency_report_daily.apply().get()
    stored = ReportResult.objects.get()
    assert outcome == {"report_result": stored.pk, "findings": 2}
    assert (stored.name, stored.actor, stored.params["limit"]) == ("consistency", "system:consistency_report_daily", 10_000)
    assert consistency_report_daily.name == "ledger.tasks_reports.consistency_report_daily"


def test_daily_summary_refresh_catches_up_then_keeps_yesterday_and_today_current():
    ledger = ledger_build(workspaces=2, accounts_per_workspace=1)
    today = clock.now().date()
    first = daily_summary_refresh.apply().get()
    assert first == {"start": (today - timedelta(days=89)).isoformat(), "end": today.isoformat(), "days": 90}
    assert DailySummary.objects.count() == 180
    assert DailySummary.objects.get(day=today, workspace=ledger.workspaces[0]).outstanding == ledger.accounts[0].balance
    assert daily_summary_refresh.apply().get()["days"] == 2
    # A beat that was down for days: the gap is rebuilt, and everything after it.
    DailySummary.objects.filter(day=today - timedelta(days=5)).delete()
    assert daily_summary_refresh.apply().get() == {
        "start": (today - timedelta(days=5)).isoformat(), "end": today.isoformat(), "days": 6}
    assert DailySummary.objects.count() == 180
    assert daily_summary_refresh.name == "ledger.tasks_reports.daily_summary_refresh"


def test_catch_up_refuses_a_window_out_of_bounds():
    with pytest.raises(InvalidInput, match="days"):
        daily_summary_catch_up(days=0, actor=Actor.system("test"))
