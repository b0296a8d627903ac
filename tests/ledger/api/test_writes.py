"""Writes over the API: grants, voids, debits, refunds and product-user signups."""
import pytest

from ledger.models import CreditAccount, Customer, EntryType, Grant, LedgerEntry
from ledger.services.debits import debit_create

from ..helpers import nothing_written
from .conftest import post

pytestmark = pytest.mark.django_db


def test_grant_creates_lot_entry_and_answers_201(api, account):
    response = post(api, f"/api/v1/accounts/{account.pk}/grants/",
                    {"amount": 250, "kind": "purchase", "source": "order", "source_id": "o-1"}, key="g-1")
    assert response.status_code == 201
    body = response.json()
    assert (body["grant"]["amount"], body["grant"]["remaining"], body["grant"]["kind"]) == (250, 250, "purchase")
    assert (body["entry"]["type"], body["entry"]["balance_after"], body["entry"]["idempotency_key"]) == ("grant", 250, "g-1")
    assert body["entry"]["actor"].startswith("api:tests (")
    assert body["grant"]["expires_at"] is not None  # the workspace policy's expiry


def test_grant_with_null_expiry_never_expires(api, account):
    body = post(api, f"/api/v1/accounts/{account.pk}/grants/", {"amount": 5, "expires_at": None}).json()
    assert body["grant"]["expires_at"] is None


@pytest.mark.parametrize(("payload", "field"), [
    ({"amount": 0}, "amount"),
    ({"amount": -5}, "amount"),
    ({"amount": 1.5}, "amount"),
    ({"amount": "ten"}, "amount"),
    ({}, "amount"),
    ({"amount": 5, "kind": "signup"}, "kind"),
    ({"amount": 5, "priority": 101}, "priority"),
    ({"amount": 5, "kind": "manual"}, "reason"),  # refused by the service, not the serializer
])
def test_invalid_grant_is_400_naming_the_field_and_writes_nothing(api, account, payload, field):
    with nothing_written():
        response = post(api, f"/api/v1/accounts/{account.pk}/grants/", payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"] and error["message"]


def test_grant_expiring_before_it_starts_is_400_on_expires_at(api, account):
    response = post(api, f"/api/v1/accounts/{account.pk}/grants/",
                    {"amount": 5, "effective_from": "2026-01-02T00:00:00Z", "expires_at": "2026-01-01T00:00:00Z"})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["expires_at"]


def test_void_takes_back_what_is_left(api, funded):
    grant = Grant.objects.get(account=funded)
    response = post(api, f"/api/v1/accounts/{funded.pk}/grants/{grant.pk}/void/", {"reason": "chargeback"})
    assert response.status_code == 200
    body = response.json()
    assert body["grant"]["voided_at"] and (body["entry"]["type"], body["entry"]["amount"]) == ("void", -500)


def test_void_needs_a_reason(api, funded):
    grant = Grant.objects.get(account=funded)
    response = post(api, f"/api/v1/accounts/{funded.pk}/grants/{grant.pk}/void/", {"reason": ""})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["reason"]


def test_void_of_grant_on_another_account_is_404(api, funded, workspace):
    other = CreditAccount.objects.create(workspace=workspace, owner_kind="workspace")
    grant = Grant.objects.get(account=funded)
    response = post(api, f"/api/v1/accounts/{other.pk}/grants/{grant.pk}/void/", {"reason": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_debit_draws_lots_and_lists_allocations(api, funded):
    grant = Grant.objects.get(account=funded)
    response = post(api, f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 120, "source": "render", "source_id": "j1"})
    assert response.status_code == 201
    body = response.json()
    assert (body["entry"]["amount"], body["entry"]["balance_after"]) == (-120, 380)
    assert body["allocations"] == [{"grant_id": grant.pk, "amount": 120, "refunded": 0}]


def test_insufficient_credits_is_402_with_balance_and_amount_and_writes_nothing(api, funded):
    with nothing_written():
        response = post(api, f"/api/v1/accounts/{funded.pk}/debits/", {"amount": 501})
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "insufficient_credits"
    assert (error["balance"], error["available"], error["amount"]) == (500, 500, 501)
    assert list(error["fields"]) == ["amount"]


def test_refund_returns_part_of_a_debit(api, funded, actor):
    debit = debit_create(account_id=funded.pk, amount=100, actor=actor, idempotency_key="d").entry
    response = post(api, f"/api/v1/accounts/{funded.pk}/debits/{debit.pk}/refund/", {"amount": 30, "reason": "failed"})
    assert response.status_code == 201
    assert (response.json()["entry"]["type"], response.json()["entry"]["refund_of"]) == ("refund", debit.pk)
    funded.refresh_from_db()
    assert funded.balance == 430


def test_refund_defaults_to_everything_left(api, funded, actor):
    debit = debit_create(account_id=funded.pk, amount=100, actor=actor, idempotency_key="d").entry
    response = post(api, f"/api/v1/accounts/{funded.pk}/debits/{debit.pk}/refund/", {"reason": "failed"})
    assert response.json()["entry"]["amount"] == 100


def test_refund_of_more_than_debited_is_400_on_amount(api, funded, actor):
    debit = debit_create(account_id=funded.pk, amount=10, actor=actor, idempotency_key="d").entry
    response = post(api, f"/api/v1/accounts/{funded.pk}/debits/{debit.pk}/refund/", {"amount": 11, "reason": "x"})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["amount"]


def test_refund_of_a_grant_entry_is_409(api, funded):
    grant_entry = LedgerEntry.objects.get(account=funded, entry_type=EntryType.GRANT)
    response = post(api, f"/api/v1/accounts/{funded.pk}/debits/{grant_entry.pk}/refund/", {"reason": "x"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_state"


def test_signup_creates_user_with_initial_credits_then_200_without_granting(api, workspace):
    first = post(api, "/api/v1/customers/", {"external_id": "u-1", "email": "ada@example.com"})
    assert first.status_code == 201
    assert first.json()["created"] is True and first.json()["account"]["balance"] == 100
    again = post(api, "/api/v1/customers/", {"external_id": "u-1", "email": "ada@example.com"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["account"]["balance"] == 100
    assert Customer.objects.filter(workspace=workspace).count() == 1


def test_signup_with_bad_email_names_the_field(api):
    response = post(api, "/api/v1/customers/", {"external_id": "u-1", "email": "not-an-email"})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["email"]


def test_malformed_json_is_400_in_the_error_shape(api, account):
    response = api.generic("POST", f"/api/v1/accounts/{account.pk}/debits/", "{not json",
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
