"""The reports' Celery tasks store the consistency result and refresh the daily summary."""
import pytest

from ledger import clock
from ledger.models import DailySummary, ReportResult
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


def test_daily_summary_refresh_rebuilds_yesterday_and_today():
    ledger = ledger_build(workspaces=2, accounts_per_workspace=1)
    outcome = daily_summary_refresh.apply().get()
    today = clock.now().date()
    assert outcome["days"] == 2 and outcome["end"] == today.isoformat()
    assert DailySummary.objects.count() == 4
    assert DailySummary.objects.get(day=today, workspace=ledger.workspaces[0]).outstanding == ledger.accounts[0].balance
    assert daily_summary_refresh.name == "ledger.tasks_reports.daily_summary_refresh"
