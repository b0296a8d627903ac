"""Idempotency-Key: retries replay the first response and write nothing; reuse is 422;
two identical requests racing write once."""
import pytest

from ledger.models import IdempotentResponse, LedgerEntry
from ledger.services import debits, grants
from tests.concurrency import run_in_threads
from tests.factories import AccountFactory, WorkspaceFactory

from ..helpers import nothing_written, snapshot
from .conftest import client_for, post

pytestmark = pytest.mark.django_db


def test_retry_with_same_key_and_body_replays_first_response_and_writes_nothing(api, funded):
    url = f"/api/v1/accounts/{funded.pk}/debits/"
    first = post(api, url, {"amount": 10}, key="charge-1")
    with nothing_written():
        again = post(api, url, {"amount": 10}, key="charge-1")
    assert (again.status_code, again.content) == (first.status_code, first.content) == (201, first.content)
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_with_another_body_is_422_and_writes_nothing(api, funded):
    url = f"/api/v1/accounts/{funded.pk}/debits/"
    post(api, url, {"amount": 10}, key="charge-1")
    with nothing_written():
        response = post(api, url, {"amount": 11}, key="charge-1")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]


def test_same_key_on_another_endpoint_is_422(api, funded):
    post(api, f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 10}, key="k")
    assert post(api, f"/api/v1/accounts/{funded.pk}/grants/", {"amount": 10}, key="k").status_code == 422


def test_body_key_order_does_not_change_the_fingerprint(api, funded):
    url = f"/api/v1/accounts/{funded.pk}/debits/"
    post(api, url, {"amount": 10, "source": "a"}, key="k")
    again = api.generic("POST", url, '{"source": "a", "amount": 10}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_insufficient_credits_is_kept_so_a_retry_gets_the_same_402(api, funded):
    url = f"/api/v1/accounts/{funded.pk}/debits/"
    first = post(api, url, {"amount": 9999}, key="k")
    again = post(api, url, {"amount": 9999}, key="k")
    assert first.status_code == again.status_code == 402 and first.content == again.content


def test_validation_errors_are_not_kept_so_the_key_can_be_used_after_fixing_the_body(api, funded):
    url = f"/api/v1/accounts/{funded.pk}/debits/"
    assert post(api, url, {"amount": 0}, key="k").status_code == 400
    assert post(api, url, {"amount": 5}, key="k").status_code == 201


def test_unknown_account_is_not_kept_so_the_key_can_be_used_on_the_right_one(api, funded):
    assert post(api, f"/api/v1/accounts/{funded.pk + 999}/debits/", {"amount": 5}, key="k").status_code == 404
    assert post(api, f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 5}, key="k").status_code == 201


def test_missing_key_is_400_naming_the_header_and_writes_nothing(api, funded):
    with nothing_written():
        response = api.post(f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]


@pytest.mark.parametrize("key", ["x" * 201, "tab\there"])
def test_unusable_key_is_400(api, funded, key):
    response = post(api, f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 1}, key=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["error"]["fields"]


def test_key_is_passed_to_the_ledger_entry(api, funded):
    post(api, f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 1}, key="order-77")
    assert LedgerEntry.objects.filter(account=funded, idempotency_key="order-77").count() == 1


def test_keys_are_scoped_per_workspace(funded):
    mine = client_for(funded.workspace)
    theirs_account = AccountFactory(workspace=WorkspaceFactory())
    theirs = client_for(theirs_account.workspace)
    assert post(mine, "/api/v1/customers/", {"external_id": "a", "email": "a@x.io"}, key="same").status_code == 201
    assert post(theirs, "/api/v1/customers/", {"external_id": "b", "email": "b@x.io"}, key="same").status_code == 201


def test_two_tokens_of_a_workspace_share_its_keys(funded):
    first, second = client_for(funded.workspace), client_for(funded.workspace)
    url = f"/api/v1/accounts/{funded.pk}/debits/"
    one = post(first, url, {"amount": 3}, key="k")
    two = post(second, url, {"amount": 3}, key="k")
    assert one.content == two.content and LedgerEntry.objects.filter(idempotency_key="k").count() == 1


def test_ledger_key_used_outside_the_api_replays_as_200(api, funded, actor):
    debits.debit_create(account_id=funded.pk, amount=4, actor=actor, idempotency_key="job-9")
    response = post(api, f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 4}, key="job-9")
    assert response.status_code == 200  # the ledger's own key already held this debit
    assert LedgerEntry.objects.filter(idempotency_key="job-9").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path", "module", "service"), [("debits/", debits, "debit_create"), ("grants/", grants, "grant_create")])
def test_two_identical_requests_racing_write_once_and_get_identical_responses(path, module, service, monkeypatch):
    account = AccountFactory()
    client = client_for(account.workspace)
    post(client, f"/api/v1/accounts/{account.pk}/grants/", {"amount": 100}, key="fund")
    calls = []
    real = getattr(module, service)
    monkeypatch.setattr(module, service, lambda **kw: calls.append(1) or real(**kw))
    responses, errors = run_in_threads(
        lambda _: post(client, f"/api/v1/accounts/{account.pk}/{path}", {"amount": 10}, key="race"), 2
    )
    assert errors == []
    assert len(responses) == 2
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert LedgerEntry.objects.filter(account=account, idempotency_key="race").count() == 1
    assert IdempotentResponse.objects.filter(key="race").count() == 1
    assert sorted(r.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
    assert len(calls) == 1  # the second request waited on the key and never reached the service


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_signups_with_one_key_create_one_user():
    account = AccountFactory()
    client = client_for(account.workspace)
    responses, errors = run_in_threads(
        lambda _: post(client, "/api/v1/customers/", {"external_id": "new", "email": "n@x.io"}, key="su"), 3
    )
    assert errors == []
    before = snapshot()
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert account.workspace.customers.filter(external_id="new").count() == 1
    assert snapshot() == before
