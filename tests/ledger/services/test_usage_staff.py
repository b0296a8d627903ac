"""Staff usage actions (services.backoffice) and the API-facing options of the usage services."""
import pytest

from ledger.exceptions import InvalidInput, NotFound, TaskConflict
from ledger.models import AuditEvent, CreditAccount, GrantKind, UsageStatus, UsageTask
from ledger.services.backoffice import staff_hold_release, staff_task_charge
from ledger.services.grants import grant_create
from ledger.services.usage import hold_release, task_complete, task_create, task_fail

from ..helpers import nothing_written
from ..invariants import assert_account_consistent

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(account, actor):
    grant_create(account_id=account.pk, amount=500, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="fund")
    return account


def test_hold_release_waits_for_the_timeout_unless_told_otherwise(funded, actor):
    task = task_create(account_id=funded.pk, tier="pro", actor=actor, estimated_duration_seconds=5).task
    assert hold_release(task_id=task.pk, actor=actor).replayed  # not due yet
    assert not hold_release(task_id=task.pk, actor=actor, before_timeout=True).replayed
    funded.refresh_from_db()
    assert funded.balance == 500
    assert_account_consistent(funded.pk)


def test_staff_hold_release_is_audited_once(funded, staff_actor):
    task = task_create(account_id=funded.pk, tier="pro", actor=staff_actor, estimated_duration_seconds=5).task
    staff_hold_release(task_id=task.pk, reason="support ticket 9", actor=staff_actor)
    assert staff_hold_release(task_id=task.pk, reason="again", actor=staff_actor).replayed
    event = AuditEvent.objects.get(action="usage.hold_release")
    assert (event.object_type, event.object_id, event.details["hold_amount"]) == ("usage_task", str(task.pk), 70)


def test_staff_task_charge_charges_a_lost_callback_once_with_an_audit_event(funded, staff_actor):
    task = task_create(account_id=funded.pk, tier="standard", actor=staff_actor).task
    UsageTask.objects.filter(pk=task.pk).update(status=UsageStatus.SUCCEEDED, output_duration_seconds=2)
    result = staff_task_charge(task_id=task.pk, reason="lost callback", actor=staff_actor)
    assert (result.replayed, result.task.credits_calculated, result.task.credits_deducted) == (False, 20, True)
    assert staff_task_charge(task_id=task.pk, reason="lost callback", actor=staff_actor).replayed
    assert AuditEvent.objects.filter(action="usage.charge").count() == 1


@pytest.mark.parametrize("service", [staff_task_charge, staff_hold_release])
def test_staff_usage_actions_need_a_reason(funded, staff_actor, service):
    task = task_create(account_id=funded.pk, tier="pro", actor=staff_actor, estimated_duration_seconds=1).task
    with nothing_written(), pytest.raises(InvalidInput) as error:
        service(task_id=task.pk, reason=" ", actor=staff_actor)
    assert error.value.field == "reason"


def test_complete_and_fail_refuse_a_task_of_another_account(funded, actor):
    task = task_create(account_id=funded.pk, tier="pro", actor=actor).task
    other = CreditAccount.objects.create(workspace=funded.workspace, owner_kind="workspace")
    with nothing_written(), pytest.raises(NotFound):
        task_complete(task_id=task.pk, duration_seconds=1, actor=actor, account_id=other.pk)
    with pytest.raises(NotFound):
        task_fail(task_id=task.pk, actor=actor, account_id=other.pk)


def test_conflicting_completion_names_the_duration(funded, actor):
    task = task_create(account_id=funded.pk, tier="pro", actor=actor).task
    task_complete(task_id=task.pk, duration_seconds=1, actor=actor)
    with pytest.raises(TaskConflict) as error:
        task_complete(task_id=task.pk, duration_seconds=2, actor=actor)
    assert error.value.field == "duration_seconds"
