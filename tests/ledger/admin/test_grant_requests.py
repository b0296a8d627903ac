"""Four-eyes: a Support grant above the limit waits for another person's approval."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.urls import reverse

from ledger.actors import Actor
from ledger.exceptions import InvalidState, NotAllowed
from ledger.models import AuditEvent, GrantRequest
from ledger.services.backoffice import staff_grant_submit
from ledger.services.grant_requests import grant_request_approve, grant_request_reject

from ...factories import StaffFactory
from ..helpers import nothing_written

pytestmark = pytest.mark.django_db


def _request(user, account, amount=5000, key="r1"):
    submission = staff_grant_submit(account_id=account.pk, amount=amount, kind="manual", reason="big customer",
                                    actor=Actor.staff(user), idempotency_key=key)
    assert submission.grant is None
    return submission.request.request


def test_support_within_limit_grants_directly(support, funded):
    submission = staff_grant_submit(account_id=funded.pk, amount=1000, kind="manual", reason="ok",
                                    actor=Actor.staff(support), idempotency_key="k")
    assert submission.grant is not None and submission.request is None


def test_operations_above_limit_grants_directly(operations, funded):
    submission = staff_grant_submit(account_id=funded.pk, amount=50_000, kind="manual", reason="ok",
                                    actor=Actor.staff(operations), idempotency_key="k")
    assert submission.grant.grant.amount == 50_000


def test_same_request_key_records_one_request(support, funded):
    first, again = _request(support, funded), _request(support, funded)
    assert first.pk == again.pk and GrantRequest.objects.count() == 1


def test_approval_by_another_operations_user_makes_the_grant_once(support, operations, funded):
    request = _request(support, funded)
    result = grant_request_approve(request_id=request.pk, actor=Actor.staff(operations))
    request.refresh_from_db()
    funded.refresh_from_db()
    assert request.status == "approved" and request.grant == result.grant and request.decided_by == operations
    assert funded.balance == 380 + 5000 and result.entry.actor == "staff:operations"
    again = grant_request_approve(request_id=request.pk, actor=Actor.staff(operations))
    assert again.replayed and again.grant == result.grant
    funded.refresh_from_db()
    assert funded.balance == 5380
    assert AuditEvent.objects.filter(action="grant_request.approve").count() == 1


def test_requester_cannot_approve_their_own_request(operations, funded):
    request = GrantRequest.objects.create(account=funded, amount=5000, reason="x", requested_by=operations,
                                          idempotency_key="own")
    with nothing_written(), pytest.raises(NotAllowed, match="other than its requester"):
        grant_request_approve(request_id=request.pk, actor=Actor.staff(operations))


def test_support_cannot_approve(support, funded):
    other = GrantRequest.objects.create(account=funded, amount=5000, reason="x", requested_by=support,
                                        idempotency_key="r")
    colleague = StaffFactory(username="support2")
    colleague.groups.add(Group.objects.get(name="Support"))
    with nothing_written(), pytest.raises(NotAllowed, match="approve_grant_requests"):
        grant_request_approve(request_id=other.pk, actor=Actor.staff(colleague))


def test_rejected_request_grants_nothing_and_cannot_be_approved(support, operations, funded):
    request = _request(support, funded)
    grant_request_reject(request_id=request.pk, actor=Actor.staff(operations), reason="not justified")
    with nothing_written(), pytest.raises(InvalidState):
        grant_request_approve(request_id=request.pk, actor=Actor.staff(operations))
    funded.refresh_from_db()
    assert funded.balance == 380


def test_admin_approve_action_needs_confirmation_then_grants(client, support, operations, funded):
    request = _request(support, funded)
    client.force_login(operations)
    url = reverse("admin:ledger_grantrequest_changelist")
    data = {"action": "approve_selected", ACTION_CHECKBOX_NAME: [request.pk]}
    page = client.post(url, data)
    assert page.status_code == 200 and b"Approve and grant" in page.content
    funded.refresh_from_db()
    assert funded.balance == 380
    client.post(url, {**data, "apply": "1", "reason": "checked with sales"})
    funded.refresh_from_db()
    assert funded.balance == 5380


def test_admin_reject_action_requires_a_reason(client, support, operations, funded):
    request = _request(support, funded)
    client.force_login(operations)
    url = reverse("admin:ledger_grantrequest_changelist")
    data = {"action": "reject_selected", ACTION_CHECKBOX_NAME: [request.pk], "apply": "1", "reason": ""}
    assert b"Say why" in client.post(url, data).content
    client.post(url, {**data, "reason": "duplicate"})
    request.refresh_from_db()
    assert request.status == "rejected" and request.decision_reason == "duplicate"


def test_support_sees_no_approve_actions(client, support, funded):
    _request(support, funded)
    client.force_login(support)
    response = client.get(reverse("admin:ledger_grantrequest_changelist"))
    assert b"approve_selected" not in response.content
