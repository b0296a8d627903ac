"""Stored report results in the admin: read-only, listed with links to the dashboards."""
import pytest
from django.urls import reverse

from ledger.models import ReportResult
from ledger.services.reports import report_run_store

from ..reporting import ACTOR, ledger_build

pytestmark = pytest.mark.django_db


def test_results_are_listed_with_dashboard_links_in_bounded_queries(client, support, django_assert_num_queries):
    ledger_build(workspaces=1, accounts_per_workspace=1)
    stored = [report_run_store(name=name, actor=ACTOR) for name in ("consistency", "expiry", "undeducted-tasks")]
    client.force_login(support)
    with django_assert_num_queries(7):  # session, user, 2 permissions, count, rows, name filter choices
        response = client.get(reverse("admin:ledger_reportresult_changelist"))
    body = response.content.decode()
    assert response.status_code == 200
    assert all(reverse("dashboards:result", args=[result.pk]) in body for result in stored)


def test_results_cannot_be_added_changed_or_deleted(client, support, django_user_model):
    result = report_run_store(name="expiry", actor=ACTOR)
    superuser = django_user_model.objects.create_superuser("root", "root@example.com", "pass-1234")
    for user in (support, superuser):
        client.force_login(user)
        assert client.get(reverse("admin:ledger_reportresult_add")).status_code == 403
        assert client.get(reverse("admin:ledger_reportresult_delete", args=[result.pk])).status_code == 403
        page = client.get(reverse("admin:ledger_reportresult_change", args=[result.pk]))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert reverse("dashboards:result", args=[result.pk]) in page.content.decode()
        client.post(reverse("admin:ledger_reportresult_change", args=[result.pk]), {"name": "changed"})
    assert ReportResult.objects.get().name == "expiry"


def test_support_and_operations_can_view_stored_results(support, operations):
    assert support.has_perm("ledger.view_reportresult") and operations.has_perm("ledger.view_reportresult")
    assert not support.has_perm("ledger.change_reportresult")
