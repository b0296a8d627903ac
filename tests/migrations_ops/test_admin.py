"""Admin runs: permissions, dry run and confirmed execution through the task, live progress,
records filter, pause, rollback confirmation, status view."""
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from ledger.models import AuditEvent, CreditAccount
from ledger.services.debits import debit_create
from migrations_ops import tasks
from migrations_ops.models import LegacyKey, Run, RunStatus

from ..factories import StaffFactory
from .conftest import MIGRATED, operation_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """Tasks the admin enqueued: (task name, args)."""
    calls = []
    monkeypatch.setattr(tasks.run_execute_task, "delay", lambda *a: calls.append(("execute", a)))
    monkeypatch.setattr(tasks.run_rollback_task, "delay", lambda *a: calls.append(("rollback", a)))
    return calls


def staff(*perms):
    user = StaffFactory()
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    return user


@pytest.fixture
def operator(client):
    user = staff("run_migrations", "rollback_migrations", "view_run")
    client.force_login(user)
    return user


def test_actions_need_the_migration_permissions(client, legacy_keys):
    client.force_login(staff("view_run"))
    plan = operation_run(dry_run=True)
    assert client.get(reverse("admin:migrations_ops_run_start")).status_code == 403
    assert client.post(reverse("admin:migrations_ops_run_execute", args=[plan.pk]), {"confirm": "yes"}).status_code == 403
    assert client.get(reverse("admin:migrations_ops_run_rollback", args=[plan.pk])).status_code == 403
    assert client.post(reverse("admin:migrations_ops_run_action", args=[plan.pk, "pause"])).status_code == 403
    assert Run.objects.count() == 1


def test_dry_run_then_confirmed_execute_runs_in_the_worker(client, operator, legacy_keys, dual_phase, queued,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:migrations_ops_run_start"),
                               {"operation": "key-credits", "workspace": "", "batch_size": 4, "throttle_ms": 0})
    plan = Run.objects.get()
    assert response.status_code == 302 and plan.dry_run and queued == [("execute", (plan.pk, operator.pk))]
    tasks.run_execute_task(plan.pk, operator.pk)
    confirm = client.get(reverse("admin:migrations_ops_run_execute", args=[plan.pk]))
    assert b"accounts_opened" in confirm.content and b"Yes, execute" in confirm.content
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:migrations_ops_run_execute", args=[plan.pk]), {"confirm": "yes"})
    run = Run.objects.get(dry_run=False)
    assert (run.status, run.plan_id, run.actor) == (RunStatus.PLANNED, plan.pk, f"staff:{operator.username}")
    assert tasks.run_execute_task(*queued[-1][1]) == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.summary() == Run.objects.get(pk=plan.pk).summary()
    assert CreditAccount.objects.count() == len(MIGRATED)


def test_execute_of_a_stale_plan_is_refused(client, operator, legacy_keys, dual_phase, queued):
    plan = operation_run(dry_run=True)
    LegacyKey.objects.filter(pk="key_b01").update(remaining_requests=8)
    response = client.post(reverse("admin:migrations_ops_run_execute", args=[plan.pk]), {"confirm": "yes"}, follow=True)
    assert "The data changed since dry run" in response.content.decode()
    assert not Run.objects.filter(dry_run=False).exists() and queued == []


def test_run_page_shows_counters_and_filters_records_in_fixed_queries(client, operator, legacy_keys, dual_phase,
                                                                       django_assert_num_queries):
    run = operation_run()
    url = reverse("admin:migrations_ops_run_change", args=[run.pk])
    with django_assert_num_queries(7):
        response = client.get(url + "?action=failed")
    content = response.content.decode()
    assert "key_a06" in content and "key_a01" not in content and 'id="mo-failed">4<' in content
    assert client.get(url).content.decode().count("<tr><td>key_") == 12


def test_progress_endpoint_reports_counters(client, operator, legacy_keys, dual_phase):
    run = operation_run()
    data = client.get(reverse("admin:migrations_ops_run_progress", args=[run.pk])).json()
    assert data | {"heartbeat_at": None} == {
        "status": "succeeded", "total": 12, "scanned": 12, "changed": 5, "skipped": 3, "failed": 4,
        "batches": 4, "error": "", "percent": 100, "heartbeat_at": None,
    }


def test_changelist_shows_progress_bars_in_fixed_queries(client, operator, legacy_keys, dual_phase,
                                                         django_assert_num_queries):
    operation_run(dry_run=True)
    operation_run()
    with django_assert_num_queries(8):
        response = client.get(reverse("admin:migrations_ops_run_changelist"))
    assert response.content.decode().count('class="mo-bar"') == 2


def test_pause_stops_a_planned_run_with_an_audit_event(client, operator, legacy_keys, dual_phase, queued,
                                                       django_capture_on_commit_callbacks):
    plan = operation_run(dry_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:migrations_ops_run_execute", args=[plan.pk]), {"confirm": "yes"})
    run = Run.objects.get(dry_run=False)
    client.post(reverse("admin:migrations_ops_run_action", args=[run.pk, "pause"]))
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert AuditEvent.objects.filter(action="migration.run_pause", object_id=str(run.pk)).exists()


def test_rollback_page_lists_spent_credits_and_queues_only_when_settled(client, operator, legacy_keys, dual_phase,
                                                                        queued, actor, django_capture_on_commit_callbacks):
    run = operation_run()
    account = CreditAccount.objects.get(api_key__external_id="key_a01")
    debit_create(account_id=account.pk, amount=5, actor=actor, idempotency_key="spend")
    url = reverse("admin:migrations_ops_run_rollback", args=[run.pk])
    page = client.get(url).content.decode()
    assert f"account #{account.pk} (key key_a01): 5 of 100 migrated credits spent since" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"reason": "bad batch"})
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"reason": "bad batch", "settle": "keep"})
    assert queued == [("rollback", (run.pk, operator.pk, "bad batch", "keep"))]
    tasks.run_rollback_task(*queued[0][1])
    assert Run.objects.get(pk=run.pk).status == RunStatus.ROLLED_BACK


def test_status_view_counts_migrated_pending_and_failed(client, operator, legacy_keys, dual_phase):
    operation_run()
    content = client.get(reverse("admin:migrations_ops_run_status")).content.decode()
    assert "<td>5</td><td>4</td>\n      <td>4</td>" in content
