"""The usage tasks admin: read-only list, and the confirmed charge-now and release-hold actions."""
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from ledger import clock
from ledger.actors import Actor
from ledger.models import AuditEvent, EntryType, LedgerEntry, UsageStatus, UsageTask
from ledger.services.usage import task_complete, task_create

from ...factories import AccountFactory, StaffFactory

pytestmark = pytest.mark.django_db
URL = "/admin/ledger/usagetask/"
ACTOR = Actor.system("tests")


def lost_callback(account, seconds="3"):
    """A task recorded as succeeded whose charge never happened (the callback was lost)."""
    task = task_create(account_id=account.pk, tier="standard", actor=ACTOR).task
    UsageTask.objects.filter(pk=task.pk).update(
        status=UsageStatus.SUCCEEDED, completed_at=clock.now(), output_duration_seconds=Decimal(seconds))
    return task


def held(account, seconds=5):
    return task_create(account_id=account.pk, tier="pro", actor=ACTOR, estimated_duration_seconds=seconds).task


def act(client, action, tasks, reason="lost callback, ticket 12", apply=True):
    data = {"action": action, ACTION_CHECKBOX_NAME: [t.pk for t in tasks]}
    if apply:
        data.update(apply="1", reason=reason)
    return client.post(URL, data)


def test_list_shows_tasks_with_account_status_and_credits(client, support, funded):
    task = task_create(account_id=funded.pk, tier="pro", actor=ACTOR, external_id="job-77").task
    task_complete(task_id=task.pk, duration_seconds="2.5", actor=ACTOR)
    client.force_login(support)
    html = client.get(URL).content.decode()
    assert "job-77" in html and str(funded.customer) in html and "35" in html


def test_list_searches_external_id_and_owner_email_and_filters(client, support, funded):
    task_create(account_id=funded.pk, tier="pro", actor=ACTOR, external_id="job-77")
    other = AccountFactory()
    client.force_login(support)
    assert "job-77" in client.get(URL, {"q": "job-77"}).content.decode()
    assert "job-77" in client.get(URL, {"q": funded.customer.email}).content.decode()
    assert "job-77" not in client.get(URL, {"q": other.customer.email}).content.decode()
    for query in ({"status__exact": "pending"}, {"tier__exact": "pro"}, {"credits_deducted__exact": "0"},
                  {"workspace__id__exact": funded.workspace_id}):
        response = client.get(URL, query)
        assert response.status_code == 200 and "job-77" in response.content.decode(), query


def test_changelist_query_count_does_not_grow_with_the_tasks(client, support, funded, django_assert_num_queries):
    for n in range(20):
        task_create(account_id=funded.pk, tier="standard", actor=ACTOR, external_id=f"j{n}")
    client.force_login(support)
    # session, user, user perms, group perms, workspaces (filter), count, page of tasks with accounts and owners
    with django_assert_num_queries(7):
        assert client.get(URL).status_code == 200


def test_tasks_are_read_only_even_for_superusers(client, funded):
    task = task_create(account_id=funded.pk, tier="pro", actor=ACTOR).task
    client.force_login(StaffFactory(username="root", is_superuser=True))
    assert client.get(reverse("admin:ledger_usagetask_add")).status_code == 403
    page = client.get(reverse("admin:ledger_usagetask_change", args=[task.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(reverse("admin:ledger_usagetask_delete", args=[task.pk])).status_code == 403


def test_charge_now_confirms_then_charges_once_with_an_audit_event(client, operations, funded):
    task = lost_callback(funded)
    client.force_login(operations)
    confirm = act(client, "charge_selected", [task], apply=False)
    assert confirm.status_code == 200 and "price its duration and charge it" in confirm.content.decode()
    assert not UsageTask.objects.get(pk=task.pk).credits_deducted  # nothing happens before confirming
    assert act(client, "charge_selected", [task]).status_code == 302
    task.refresh_from_db()
    assert (task.credits_deducted, task.credits_calculated) == (True, 30)
    assert LedgerEntry.objects.get(pk=task.charge_entry_id).actor == "staff:operations"
    event = AuditEvent.objects.get(action="usage.charge")
    assert (event.object_id, event.reason, event.actor_user_id) == (str(task.pk), "lost callback, ticket 12", operations.pk)
    act(client, "charge_selected", [task])  # again: nothing to do
    assert LedgerEntry.objects.filter(account=funded, source="usage_task", entry_type=EntryType.DEBIT).count() == 1
    assert AuditEvent.objects.filter(action="usage.charge").count() == 1


def test_charge_now_leaves_pending_and_failed_tasks_alone(client, operations, funded):
    pending = task_create(account_id=funded.pk, tier="pro", actor=ACTOR).task
    client.force_login(operations)
    assert "not waiting for its charge" in act(client, "charge_selected", [pending], apply=False).content.decode()
    act(client, "charge_selected", [pending])
    assert UsageTask.objects.get(pk=pending.pk).status == UsageStatus.PENDING
    assert not AuditEvent.objects.filter(action="usage.charge").exists()


def test_release_hold_gives_the_credits_back_before_the_timeout(client, operations, funded):
    task = held(funded)
    client.force_login(operations)
    assert "give back the 70 credits held" in act(client, "release_hold_selected", [task], apply=False).content.decode()
    act(client, "release_hold_selected", [task], reason="customer complaint")
    task.refresh_from_db()
    funded.refresh_from_db()
    assert task.hold_released_at is not None and funded.balance == 380
    assert AuditEvent.objects.get(action="usage.hold_release").reason == "customer complaint"


def test_actions_need_a_reason(client, operations, funded):
    task = held(funded)
    client.force_login(operations)
    response = act(client, "release_hold_selected", [task], reason="  ")
    assert response.status_code == 200 and "Say why." in response.content.decode()
    assert UsageTask.objects.get(pk=task.pk).hold_active


def test_support_does_not_get_the_actions(client, support, funded):
    task = held(funded)
    client.force_login(support)
    assert "charge_selected" not in client.get(URL).content.decode()
    act(client, "release_hold_selected", [task])
    assert UsageTask.objects.get(pk=task.pk).hold_active
    assert not AuditEvent.objects.exists()


def test_operations_holds_the_charge_usage_permission(operations, support):
    assert operations.has_perm("ledger.charge_usage") and not support.has_perm("ledger.charge_usage")
