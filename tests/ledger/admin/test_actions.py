"""Grant, adjust, void and refund through the admin: confirmation, idempotency, errors."""
import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from ledger.models import AuditEvent, EntryType, Grant, GrantRequest, LedgerEntry

from ..helpers import snapshot

pytestmark = pytest.mark.django_db


def grant_url(account):
    return reverse("admin:ledger_creditaccount_grant", args=[account.pk])


def key_of(response):
    return response.context["form"]["idempotency_key"].value()


def grant_data(key, **overrides):
    return {"amount": "300", "kind": "manual", "reason": "Ticket #1", "priority": "50", "idempotency_key": key,
            "step": "do", **overrides}


def test_grant_form_shows_a_fresh_idempotency_key_each_time(client, support, funded):
    client.force_login(support)
    first, second = client.get(grant_url(funded)), client.get(grant_url(funded))
    assert key_of(first).startswith("admin:") and key_of(first) != key_of(second)


def test_review_step_shows_what_will_happen_and_writes_nothing(client, support, funded):
    client.force_login(support)
    key = key_of(client.get(grant_url(funded)))
    before = snapshot()
    response = client.post(grant_url(funded), grant_data(key, step="confirm"))
    assert response.status_code == 200
    assert b"380 &rarr;" not in response.content and b"Please check" in response.content
    assert response.context["balance_after"] == funded.balance + 300
    assert snapshot() == before


def test_grant_makes_entry_with_staff_actor_audit_event_and_log_entry(client, support, funded):
    client.force_login(support)
    key = key_of(client.get(grant_url(funded)))
    response = client.post(grant_url(funded), grant_data(key))
    assert response.status_code == 302
    funded.refresh_from_db()
    assert funded.balance == 380 + 300
    entry = LedgerEntry.objects.filter(account=funded).latest("id")
    assert (entry.entry_type, entry.amount, entry.actor, entry.actor_user_id) == (
        EntryType.GRANT, 300, "staff:support", support.pk)
    audit = AuditEvent.objects.get(action="grant.create")
    assert (audit.actor_user_id, audit.reason, audit.object_id) == (support.pk, "Ticket #1", str(funded.pk))
    assert LogEntry.objects.filter(user=support, object_id=str(funded.pk)).count() == 1


def test_double_submitted_grant_form_grants_once(client, support, funded):
    client.force_login(support)
    key = key_of(client.get(grant_url(funded)))
    client.post(grant_url(funded), grant_data(key))
    again = client.post(grant_url(funded), grant_data(key), follow=True)
    assert b"already submitted" in again.content
    funded.refresh_from_db()
    assert funded.balance == 680
    assert Grant.objects.filter(account=funded, kind="manual").count() == 1
    assert AuditEvent.objects.filter(action="grant.create").count() == 1
    assert LogEntry.objects.count() == 1


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"amount": "abc"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "1.5"}, "amount"),
        ({"reason": "   "}, "reason"),
        ({"priority": "101"}, "priority"),
        ({"kind": "signup"}, "kind"),
        ({"expires_on": "2001-01-01"}, "expires_on"),
    ],
)
def test_grant_form_refuses_bad_input_with_field_error_and_writes_nothing(client, support, funded, overrides, field):
    client.force_login(support)
    key = key_of(client.get(grant_url(funded)))
    before = snapshot()
    response = client.post(grant_url(funded), grant_data(key, **overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert snapshot() == before and LogEntry.objects.count() == 0


def test_key_reused_with_other_values_is_refused_with_a_fresh_key(client, support, funded):
    client.force_login(support)
    key = key_of(client.get(grant_url(funded)))
    client.post(grant_url(funded), grant_data(key))
    before = snapshot()
    response = client.post(grant_url(funded), grant_data(key, amount="301"))
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert key_of(response) != key and snapshot() == before


def test_grant_with_date_and_never_expires(client, operations, funded):
    client.force_login(operations)
    client.post(grant_url(funded), grant_data(key_of(client.get(grant_url(funded))), never_expires="on"))
    client.post(grant_url(funded), grant_data(key_of(client.get(grant_url(funded))), expires_on="2099-03-31"))
    never, dated = Grant.objects.filter(account=funded, kind="manual").order_by("id")
    assert never.expires_at is None
    assert dated.expires_at.isoformat() == "2099-04-01T00:00:00+00:00"


def test_void_removes_what_is_left_of_the_lot(client, operations, funded):
    client.force_login(operations)
    url = reverse("admin:ledger_creditaccount_void", args=[funded.pk, funded.lot.pk])
    key = key_of(client.get(url))
    confirm = client.post(url, {"reason": "fraud", "idempotency_key": key, "step": "confirm"})
    assert confirm.context["balance_after"] == 0
    client.post(url, {"reason": "fraud", "idempotency_key": key, "step": "do"})
    funded.refresh_from_db()
    assert funded.balance == 0 and AuditEvent.objects.filter(action="grant.void").count() == 1


def test_refund_returns_a_debit_and_refuses_more_than_was_debited(client, operations, funded):
    client.force_login(operations)
    url = reverse("admin:ledger_creditaccount_refund", args=[funded.pk, funded.debit.pk])
    key = key_of(client.get(url))
    before = snapshot()
    too_much = client.post(url, {"amount": "121", "reason": "bug", "idempotency_key": key, "step": "do"})
    assert "amount" in too_much.context["form"].errors and snapshot() == before
    client.post(url, {"amount": "", "reason": "bug", "idempotency_key": key, "step": "do"})
    funded.refresh_from_db()
    assert funded.balance == 500


def test_adjust_with_negative_amount_draws_lots(client, operations, funded):
    client.force_login(operations)
    url = reverse("admin:ledger_creditaccount_adjust", args=[funded.pk])
    client.post(url, {"amount": "-80", "reason": "correction", "idempotency_key": key_of(client.get(url)), "step": "do"})
    funded.refresh_from_db()
    assert funded.balance == 300 and AuditEvent.objects.get(action="account.adjust").reason == "correction"


def test_adjust_beyond_balance_is_a_field_error(client, operations, funded):
    client.force_login(operations)
    url = reverse("admin:ledger_creditaccount_adjust", args=[funded.pk])
    before = snapshot()
    response = client.post(url, {"amount": "-9999", "reason": "x", "idempotency_key": key_of(client.get(url)), "step": "do"})
    assert "amount" in response.context["form"].errors and snapshot() == before


def test_support_grant_above_limit_becomes_pending_request(client, support, funded, settings):
    client.force_login(support)
    response = client.post(grant_url(funded), grant_data(key_of(client.get(grant_url(funded))), amount="1001",
                                                         step="confirm"))
    assert "above your limit" in response.context["notice"]
    before_balance = funded.balance
    client.post(grant_url(funded), grant_data(response.context["form"]["idempotency_key"].value(), amount="1001"))
    funded.refresh_from_db()
    request = GrantRequest.objects.get()
    assert (request.status, request.amount, request.requested_by_id) == ("pending", 1001, support.pk)
    assert funded.balance == before_balance
