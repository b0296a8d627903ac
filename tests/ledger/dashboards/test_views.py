"""Dashboard pages: staff only, bounded query counts, the repair action and its permission."""
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from ledger import clock
from ledger.models import AuditEvent, LedgerEntry, ReportResult
from ledger.services.reports import report_run_store
from ledger.services.summaries import daily_summary_refresh
from ledger.tasks_reports import report_store

from ...factories import StaffFactory
from ..reporting import ACTOR, defences_off, ledger_build

pytestmark = pytest.mark.django_db


def summarised(accounts_per_workspace=3):
    ledger = ledger_build(workspaces=2, accounts_per_workspace=accounts_per_workspace)
    today = clock.now().date()
    daily_summary_refresh(start=today - timedelta(days=89), end=today, actor=ACTOR)
    return ledger


@pytest.mark.parametrize("name", ["overview", "health", "reports"])
def test_dashboards_need_a_staff_login(client, name):
    url = reverse(f"dashboards:{name}")
    assert client.get(url).status_code == 302
    client.force_login(StaffFactory(username="customer-facing", is_staff=False))
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_index_links_the_dashboards(staff_client):
    body = staff_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboards-links"' in body and reverse("dashboards:overview") in body and reverse("dashboards:health") in body


def test_overview_shows_figures_and_charts_in_bounded_queries(staff_client, django_assert_num_queries):
    ledger = summarised()
    url = reverse("dashboards:overview")
    with django_assert_num_queries(11):
        response = staff_client.get(url)
    body = response.content.decode()
    outstanding = sum(a.balance for a in ledger.accounts)
    assert response.context["outstanding"] == outstanding
    assert response.context["series"]["outstanding"][-1] == outstanding
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2 and "Granted" in body and "Credits per day, last 90 days" in body
    assert "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")
    top = response.context["top_balance"]
    assert [a.balance for a in top] == sorted((a.balance for a in ledger.accounts), reverse=True)


def test_overview_filters_by_workspace_with_the_same_query_count(staff_client, django_assert_num_queries):
    ledger = summarised()
    with django_assert_num_queries(12):  # + the workspace lookup
        response = staff_client.get(reverse("dashboards:overview"), {"workspace": "ws-1"})
    assert {a.workspace.slug for a in response.context["top_spend"]} == {"ws-1"}
    assert response.context["outstanding"] == sum(a.balance for a in ledger.accounts if a.workspace.slug == "ws-1")
    assert staff_client.get(reverse("dashboards:overview"), {"workspace": "nope"}).status_code == 404


def test_overview_query_count_does_not_grow_with_accounts(staff_client, django_assert_num_queries):
    summarised(accounts_per_workspace=8)
    with django_assert_num_queries(11):
        staff_client.get(reverse("dashboards:overview"))


def test_health_is_green_when_the_latest_report_is_clean(staff_client, django_assert_num_queries):
    ledger_build(workspaces=1, accounts_per_workspace=1)
    report_run_store(name="consistency", actor=ACTOR)
    # 6 for the page and consistency, + 5 undeducted-tasks (2 counts, shortfall totals, 2 row
    # lists), + 1 migration-status (the latest run of every operation, however many there are).
    with django_assert_num_queries(12):
        response = staff_client.get(reverse("dashboards:health"))
    body = response.content.decode()
    assert response.context["all_ok"] and "All clear" in body


def test_health_shows_findings_and_repair_links_for_operators(operator_client, django_assert_num_queries):
    ledger = ledger_build(workspaces=1, accounts_per_workspace=2)
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_creditaccount SET balance = balance + 2, total_earned = total_earned + 2 WHERE id = %s", [ledger.accounts[1].pk])
    report_run_store(name="consistency", actor=ACTOR)
    response = operator_client.get(reverse("dashboards:health"))
    body = response.content.decode()
    section = response.context["sections"][0]
    assert (section.key, section.status, len(section.rows)) == ("consistency", "fail", 3)
    assert reverse("dashboards:repair", args=[ledger.accounts[1].pk]) in body and "Needs attention" in body


def test_health_without_a_report_says_unknown(staff_client):
    section = staff_client.get(reverse("dashboards:health")).context["sections"][0]
    assert (section.status, section.message) == ("unknown", "Never run yet.")


def test_health_lists_beat_jobs_that_missed_their_schedule(staff_client):
    now = clock.now()
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    daily = CrontabSchedule.objects.create(minute="0", hour="3")
    PeriodicTask.objects.create(name="on time", task="x.a", interval=hourly, last_run_at=now - timedelta(minutes=30))
    PeriodicTask.objects.create(name="stuck", task="x.b", interval=hourly, last_run_at=now - timedelta(hours=5))
    PeriodicTask.objects.create(name="nightly missed", task="x.c", crontab=daily, last_run_at=now - timedelta(days=3))
    PeriodicTask.objects.create(name="disabled", task="x.d", interval=hourly, enabled=False, last_run_at=now - timedelta(days=9))
    beat = next(s for s in staff_client.get(reverse("dashboards:health")).context["sections"] if s.key == "beat")
    assert beat.status == "fail" and [row[0] for row in beat.rows] == ["nightly missed", "stuck"]


def test_repair_needs_the_repair_permission(staff_client):
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    url = reverse("dashboards:repair", args=[account.pk])
    assert staff_client.get(url).status_code == 403
    assert staff_client.post(url, {"reason": "x"}).status_code == 403
    assert not AuditEvent.objects.exists()


def test_repair_previews_then_books_the_adjustment(operator_client, operator):
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_grant SET remaining = remaining + 6 WHERE account_id = %s AND kind = 'signup'", [account.pk])
    url = reverse("dashboards:repair", args=[account.pk])
    preview = operator_client.get(url)
    assert preview.context["preview"].adjustment == 6 and "adjustment entry of +6" in preview.content.decode()
    response = operator_client.post(url, {"reason": "support ticket 7", "next": reverse("dashboards:health")})
    assert response.status_code == 302 and response["Location"] == reverse("dashboards:health")
    entry = LedgerEntry.objects.get(source="repair")
    assert (entry.amount, entry.actor, entry.actor_user_id) == (6, "staff:operator", operator.pk)
    assert AuditEvent.objects.get().actor_user_id == operator.pk


def test_repair_without_reason_shows_the_error(operator_client):
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    response = operator_client.post(reverse("dashboards:repair", args=[account.pk]), {"reason": ""})
    assert response.status_code == 200 and "reason" in response.context["error"]


def test_report_page_downloads_csv_and_json(staff_client):
    ledger_build(workspaces=1, accounts_per_workspace=1)
    csv = staff_client.get(reverse("dashboards:report", args=["consistency"]), {"format": "csv", "workspace": "ws-0"})
    assert csv["Content-Type"] == "text/csv" and csv.content.decode().startswith("check,account")
    data = staff_client.get(reverse("dashboards:report", args=["expiry"]), {"format": "json"}).json()
    assert data["name"] == "expiry" and data["rows"] == []
    page = staff_client.get(reverse("dashboards:report", args=["expiry"]))
    assert page.status_code == 200 and "Credits expiry" in page.content.decode()
    assert staff_client.get(reverse("dashboards:report", args=["nope"])).status_code == 404


def test_heavy_report_over_all_workspaces_shows_the_latest_stored_result(staff_client):
    url = reverse("dashboards:report", args=["consistency"])
    assert "No stored result yet" in staff_client.get(url).content.decode()
    stored = report_run_store(name="consistency", actor=ACTOR)
    response = staff_client.get(url)
    assert response.context["stored"] == stored and f"stored result #{stored.pk}" in response.content.decode()


def test_running_a_heavy_report_is_queued_for_the_worker(staff_client, staff):
    with mock.patch("ledger.tasks_reports.report_store.delay", side_effect=report_store) as delay:
        response = staff_client.post(reverse("dashboards:report_run", args=["consistency"]))
    delay.assert_called_once_with("consistency", staff.pk)
    assert response["Location"] == reverse("dashboards:reports")
    stored = ReportResult.objects.get()
    assert (stored.actor, stored.created_by) == ("staff:support", staff)


def test_a_light_report_runs_and_is_stored_at_once(staff_client, staff):
    response = staff_client.post(reverse("dashboards:report_run", args=["expiry"]))
    stored = ReportResult.objects.get()
    assert response["Location"] == reverse("dashboards:result", args=[stored.pk])
    assert (stored.name, stored.created_by) == ("expiry", staff)
    assert "Credits expiry" in staff_client.get(response["Location"]).content.decode()


def test_health_shows_uncharged_tasks_and_failing_migration_runs(staff_client):
    from ..reports.test_migration_status import run_plant
    from ..reports.test_undeducted_tasks import task

    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    report_run_store(name="consistency", actor=ACTOR)
    stale = task(account, deducted=False, minutes_ago=60)
    failed = run_plant("key-credits", "failed", error="IntegrityError: boom")
    response = staff_client.get(reverse("dashboards:health"))
    sections = {section.key: section for section in response.context["sections"]}
    assert (sections["undeducted-tasks"].status, sections["undeducted-tasks"].rows[0][1]) == ("fail", stale.pk)
    migrations = sections["migration-status"]
    assert migrations.status == "fail" and migrations.message == "1 finding"
    assert [row[:3] + row[7:] for row in migrations.rows][0] == ["key-credits", failed.pk, "failed", "failed", "IntegrityError: boom"]
    body = response.content.decode()
    assert 'id="health-undeducted-tasks"' in body and 'id="health-migration-status"' in body and not response.context["all_ok"]


def test_overview_says_as_of_and_only_operations_can_refresh_it(client, staff):
    from django.contrib.auth.models import Group
    from django.test import Client

    from ledger.roles import OPERATIONS

    ledger_build(workspaces=1, accounts_per_workspace=2)
    client.force_login(staff)
    body = client.get(reverse("dashboards:overview")).content.decode()
    assert "as of never (no summary yet)" in body and 'id="summary-refresh"' not in body
    assert "Operations can refresh it now" in body
    assert client.post(reverse("dashboards:summary_refresh")).status_code == 403
    operator = StaffFactory(username="ops")
    operator.groups.add(Group.objects.get(name=OPERATIONS))
    operations = Client()
    operations.force_login(operator)
    body = operations.get(reverse("dashboards:overview")).content.decode()
    assert 'id="summary-refresh"' in body and "90 of the last 90 days are not summarised yet" in body
    response = operations.post(reverse("dashboards:summary_refresh"), {"workspace": "ws-0"})
    assert response.status_code == 302 and response["Location"].endswith("?workspace=ws-0")
    today = clock.now().date()
    event = AuditEvent.objects.get(action="summary.refresh")
    assert (event.actor_user_id, event.object_id) == (operator.pk, f"{today - timedelta(days=89)}..{today}")
    page = operations.get(response["Location"])
    assert page.context["refreshed_at"] is not None and not page.context["series"]["missing"]
    assert operations.get(reverse("dashboards:summary_refresh")).status_code == 405


def test_overview_shows_voids_and_migrations_apart_from_expiry(staff_client):
    from ledger.models import GrantKind
    from ledger.services.grants import grant_create, grant_void

    ledger = summarised()
    account = ledger.accounts[0]
    lot = grant_create(account_id=account.pk, amount=7_000, kind=GrantKind.MIGRATION, actor=ACTOR,
                       idempotency_key="mig", expires_at=None).grant
    grant_void(grant_id=lot.pk, actor=ACTOR, reason="rollback", idempotency_key="rb")
    today = clock.now().date()
    daily_summary_refresh(start=today, end=today, actor=ACTOR)
    response = staff_client.get(reverse("dashboards:overview"))
    totals = response.context["series"]["totals"]
    assert (totals["migrated_in"], totals["migrated_out"]) == (7_000, 7_000)
    body = response.content.decode()
    assert 'id="kpi-migrated-out">7,000<' in body and "Data migrations per day" in body
    assert totals["expired"] < 7_000 and totals["voided"] < 7_000
