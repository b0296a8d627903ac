"""Who may do what: Support, Operations, plain staff and anonymous, for every action."""
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from ledger.models import Allocation, Grant, GrantRequest, LedgerEntry
from ledger.roles import OPERATIONS, SUPPORT

from ...factories import StaffFactory

pytestmark = pytest.mark.django_db

ROLES = ["support", "operations", "plain_staff", "anonymous"]


def _urls(account):
    return {
        "account page": reverse("admin:ledger_creditaccount_change", args=[account.pk]),
        "grant": reverse("admin:ledger_creditaccount_grant", args=[account.pk]),
        "adjust": reverse("admin:ledger_creditaccount_adjust", args=[account.pk]),
        "void": reverse("admin:ledger_creditaccount_void", args=[account.pk, account.lot.pk]),
        "refund": reverse("admin:ledger_creditaccount_refund", args=[account.pk, account.debit.pk]),
        "history csv": reverse("admin:ledger_creditaccount_history_csv", args=[account.pk]),
        "entries": reverse("admin:ledger_ledgerentry_changelist"),
        "audit": reverse("admin:ledger_auditevent_changelist"),
        "policy": reverse("admin:ledger_workspace_policy", args=[account.workspace_id]),
        "grant requests": reverse("admin:ledger_grantrequest_changelist"),
    }


#: status code of GET per page and role; anonymous users are sent to the login page.
EXPECTED = {
    "account page": {"support": 200, "operations": 200, "plain_staff": 403},
    "grant": {"support": 200, "operations": 200, "plain_staff": 403},
    "adjust": {"support": 403, "operations": 200, "plain_staff": 403},
    "void": {"support": 403, "operations": 200, "plain_staff": 403},
    "refund": {"support": 403, "operations": 200, "plain_staff": 403},
    "history csv": {"support": 200, "operations": 200, "plain_staff": 403},
    "entries": {"support": 200, "operations": 200, "plain_staff": 403},
    "audit": {"support": 200, "operations": 200, "plain_staff": 403},
    "policy": {"support": 403, "operations": 200, "plain_staff": 403},
    "grant requests": {"support": 200, "operations": 200, "plain_staff": 403},
}


@pytest.mark.parametrize("page", list(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, request, funded, page, role):
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    url = _urls(funded)[page]
    response = client.get(url)
    if role == "anonymous":
        assert response.status_code == 302 and "/login/" in response["Location"]
    else:
        assert response.status_code == EXPECTED[page][role]


@pytest.mark.parametrize("page", ["grant", "adjust", "void", "refund", "policy"])
@pytest.mark.parametrize("role", ["plain_staff", "anonymous"])
def test_posting_an_action_without_permission_writes_nothing(client, request, funded, page, role):
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    entries = LedgerEntry.objects.count()
    response = client.post(_urls(funded)[page], {"amount": "5", "reason": "x", "idempotency_key": "k", "step": "do"})
    assert response.status_code in (302, 403) and LedgerEntry.objects.count() == entries
    if role != "anonymous":
        assert response.status_code == 403


def test_groups_hold_the_documented_permissions(db):
    support = set(Group.objects.get(name=SUPPORT).permissions.values_list("codename", flat=True))
    operations = set(Group.objects.get(name=OPERATIONS).permissions.values_list("codename", flat=True))
    assert "grant_credits" in support and "view_ledgerentry" in support
    assert not support & {"adjust_credits", "void_credits", "refund_credits", "approve_grant_requests",
                          "change_workspacepolicy"}
    assert {"grant_credits", "adjust_credits", "void_credits", "refund_credits", "approve_grant_requests",
            "repair_accounts", "change_workspacepolicy"} <= operations


@pytest.mark.parametrize("model", [LedgerEntry, Allocation, Grant, GrantRequest])
def test_ledger_rows_are_read_only_even_for_superusers(client, funded, model):
    superuser = StaffFactory(username="root", is_superuser=True)
    client.force_login(superuser)
    row = model.objects.first() or model.objects.none()
    opts = model._meta
    assert client.get(reverse(f"admin:ledger_{opts.model_name}_add")).status_code == 403
    if row:
        change = client.get(reverse(f"admin:ledger_{opts.model_name}_change", args=[row.pk]))
        assert change.status_code == 200 and b'name="_save"' not in change.content
        assert client.post(reverse(f"admin:ledger_{opts.model_name}_delete", args=[row.pk])).status_code == 403
