"""The expiry report lists exactly the users who lost credits to expiry or are about to."""
from datetime import timedelta

import pytest

from ledger import clock
from ledger.models import GrantKind
from ledger.reports import report_get
from ledger.services.grants import grant_create

from ...factories import AccountFactory, CustomerFactory, WorkspaceFactory
from ..reporting import ACTOR, lot_expire

pytestmark = pytest.mark.django_db


def customer_account(workspace, email):
    return AccountFactory(workspace=workspace, customer=CustomerFactory(workspace=workspace, email=email))


def test_expiry_report_lists_expired_and_expiring_users_only():
    now = clock.now()
    workspace = WorkspaceFactory(slug="acme")
    expired = customer_account(workspace, "gone@example.com")
    lot = grant_create(account_id=expired.pk, amount=40, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="a",
                       effective_from=now - timedelta(days=200), expires_at=now - timedelta(days=1)).grant
    grant_create(account_id=expired.pk, amount=15, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="b", expires_at=None)
    expiry_entry = lot_expire(lot)
    soon = customer_account(workspace, "soon@example.com")
    grant_create(account_id=soon.pk, amount=5, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="a", expires_at=now + timedelta(days=3))
    grant_create(account_id=soon.pk, amount=20, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="b", expires_at=now + timedelta(days=20))
    grant_create(account_id=soon.pk, amount=99, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="c", expires_at=now + timedelta(days=60))
    untouched = customer_account(workspace, "fine@example.com")
    grant_create(account_id=untouched.pk, amount=10, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="a", expires_at=None)

    output = report_get("expiry").run()

    by_email = {row[1]: row for row in output.rows}
    assert list(by_email) == ["gone@example.com", "soon@example.com"]
    gone = by_email["gone@example.com"]
    assert gone[3:6] == [expired.pk, 15, 40] and gone[6] == expiry_entry.created_at
    assert gone[7:] == [0, 0, None]
    assert by_email["soon@example.com"][4:9] == [124, 0, None, 5, 25]
    assert output.summary == {"expiring_7d": 5, "expiring_30d": 25, "accounts_expiring_30d": 1}
    assert output.findings == 2


def test_expiry_report_filters_by_workspace():
    now = clock.now()
    for slug in ("one", "two"):
        account = customer_account(WorkspaceFactory(slug=slug), f"{slug}@example.com")
        grant_create(account_id=account.pk, amount=5, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="a", expires_at=now + timedelta(days=3))
    output = report_get("expiry").run(workspace_id=account.workspace_id)
    assert [row[1] for row in output.rows] == ["two@example.com"]
    assert output.summary["expiring_7d"] == 5


def test_expiry_report_on_a_ledger_without_expiry_is_empty():
    customer_account(WorkspaceFactory(), "x@example.com")
    output = report_get("expiry").run()
    assert (output.rows, output.findings, output.summary["expiring_30d"]) == ([], 0, 0)
