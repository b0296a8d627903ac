"""Reading accounts over the API: lookup by owner, balance with expiring credits, entries."""
from datetime import timedelta

import pytest

from ledger import clock
from ledger.models import EntryType, GrantKind
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from tests.factories import AccountFactory, ApiKeyFactory

pytestmark = pytest.mark.django_db


def test_lookup_finds_product_user_account_by_external_id(api, account):
    response = api.get("/api/v1/accounts/lookup/", {"owner_kind": "customer", "external_id": account.customer.external_id})
    assert response.status_code == 200
    assert response.json()["id"] == account.pk
    assert response.json()["owner_external_id"] == account.customer.external_id


def test_lookup_finds_api_key_account(api, workspace):
    key = ApiKeyFactory(workspace=workspace)
    acct = AccountFactory(workspace=workspace, owner_kind="api_key", customer=None, api_key=key)
    response = api.get("/api/v1/accounts/lookup/", {"owner_kind": "api_key", "external_id": key.external_id})
    assert response.status_code == 200 and response.json()["id"] == acct.pk


def test_lookup_of_unknown_owner_is_404(api):
    response = api.get("/api/v1/accounts/lookup/", {"owner_kind": "customer", "external_id": "nobody"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "account_not_found"


def test_lookup_without_owner_kind_names_the_field(api):
    response = api.get("/api/v1/accounts/lookup/")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"owner_kind": ["This field is required."]}


def test_lookup_without_external_id_names_it(api):
    response = api.get("/api/v1/accounts/lookup/", {"owner_kind": "customer"})
    assert response.status_code == 400 and "external_id" in response.json()["error"]["fields"]


def test_balance_reports_totals_available_and_credits_expiring_in_window(api, funded, actor):
    now = clock.now()
    soon = grant_create(account_id=funded.pk, amount=40, kind=GrantKind.PURCHASE, actor=actor,
                        idempotency_key="soon", expires_at=now + timedelta(days=3))
    grant_create(account_id=funded.pk, amount=7, kind=GrantKind.PURCHASE, actor=actor,
                 idempotency_key="later", expires_at=now + timedelta(days=20))
    debit_create(account_id=funded.pk, amount=10, actor=actor, idempotency_key="d")
    response = api.get(f"/api/v1/accounts/{funded.pk}/balance/", {"expiring_within_days": 10})
    assert response.status_code == 200
    body = response.json()
    assert (body["balance"], body["available"], body["debt"]) == (537, 537, 0)
    assert body["totals"] == {"earned": 547, "spent": 10, "expired": 0}
    assert body["expiring"]["within_days"] == 10
    assert body["expiring"]["credits"] == 30  # the 3-day lot, after the debit drew 10 from it
    assert [lot["grant_id"] for lot in body["expiring"]["lots"]] == [soon.grant.pk]


def test_balance_available_includes_overdraft_headroom(api, funded):
    funded.overdraft_limit = 100
    funded.save(update_fields=["overdraft_limit"])
    assert api.get(f"/api/v1/accounts/{funded.pk}/balance/").json()["available"] == 600


def test_balance_rejects_negative_window_naming_the_field(api, funded):
    response = api.get(f"/api/v1/accounts/{funded.pk}/balance/", {"expiring_within_days": -1})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["expiring_within_days"]


def test_balance_of_missing_account_is_404(api):
    assert api.get("/api/v1/accounts/999999/balance/").status_code == 404


def _entries(api, account, **params):
    return api.get(f"/api/v1/accounts/{account.pk}/entries/", params)


def test_entries_are_newest_first_and_cursor_paginated(api, funded, actor):
    for n in range(4):
        debit_create(account_id=funded.pk, amount=1, actor=actor, idempotency_key=f"d{n}")
    first = _entries(api, funded, page_size=3).json()
    assert [e["seq"] for e in first["results"]] == [5, 4, 3]
    second = api.get(first["next"]).json()
    assert [e["seq"] for e in second["results"]] == [2, 1] and second["next"] is None


def test_entries_filter_by_type(api, funded, actor):
    debit_create(account_id=funded.pk, amount=3, actor=actor, idempotency_key="d")
    body = api.get(f"/api/v1/accounts/{funded.pk}/entries/?type=debit&type=refund").json()
    assert [(e["type"], e["amount"]) for e in body["results"]] == [(EntryType.DEBIT, -3)]


def test_entries_filter_by_date_range_after_inclusive_before_exclusive(api, funded, actor):
    entry = debit_create(account_id=funded.pk, amount=3, actor=actor, idempotency_key="d").entry
    at = entry.created_at.isoformat()
    assert [e["id"] for e in _entries(api, funded, created_after=at).json()["results"]] == [entry.pk]
    assert entry.pk not in [e["id"] for e in _entries(api, funded, created_before=at).json()["results"]]
    tomorrow = (clock.now() + timedelta(days=1)).isoformat()
    assert _entries(api, funded, created_after=tomorrow).json()["results"] == []


def test_entries_with_unknown_type_name_the_field(api, funded):
    response = _entries(api, funded, type="bonus")
    assert response.status_code == 400 and "type.0" in response.json()["error"]["fields"]


@pytest.mark.parametrize("cursor", ["bz14", "cD1hYmM="])  # offset "x"; position "abc"
def test_entries_with_bad_cursor_is_400_on_cursor(api, funded, cursor):
    response = _entries(api, funded, cursor=cursor)
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["cursor"]
