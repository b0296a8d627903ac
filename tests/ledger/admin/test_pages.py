"""The account page, the entries list, the audit page, CSV exports and policies."""
import csv
import io

import pytest
from django.urls import reverse

from ledger.actors import Actor
from ledger.models import AuditEvent, PolicyChange
from ledger.services.accounts import account_overdraft_set
from ledger.services.debits import debit_create

from ...factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_account_page_shows_balance_lots_entries_and_actions(client, operations, funded):
    client.force_login(operations)
    response = client.get(reverse("admin:ledger_creditaccount_change", args=[funded.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="balance">380<' in html
    assert f"/lots/{funded.lot.pk}/void/" in html and f"/entries/{funded.debit.pk}/refund/" in html
    assert f"?account={funded.pk}" in html and "credit-neg" in html and "Render" in html


def test_account_page_hides_actions_a_support_user_may_not_do(client, support, funded):
    client.force_login(support)
    html = client.get(reverse("admin:ledger_creditaccount_change", args=[funded.pk])).content.decode()
    assert "grant-button" in html and "/void/" not in html and "/refund/" not in html and "/adjust/" not in html


def test_account_page_query_count_does_not_grow_with_history(client, support, funded, django_assert_num_queries):
    for n in range(30):
        debit_create(account_id=funded.pk, amount=1, actor=Actor.system("t"), idempotency_key=f"x{n}")
    client.force_login(support)
    url = reverse("admin:ledger_creditaccount_change", args=[funded.pk])
    # session, user, user perms, group perms, account+owner, lots, entries+lots
    with django_assert_num_queries(7):
        assert client.get(url).status_code == 200


def test_entries_list_query_count_is_pinned(client, support, funded, django_assert_num_queries):
    for _ in range(3):
        AccountFactory()
    client.force_login(support)
    url = reverse("admin:ledger_ledgerentry_changelist")
    # session, user, user perms, group perms, count, page of entries with accounts and owners
    with django_assert_num_queries(6):
        assert client.get(url).status_code == 200
    with django_assert_num_queries(6):
        assert client.get(url + f"?account={funded.pk}&entry_type__exact=debit").status_code == 200


def test_accounts_list_searches_by_email_and_filters_by_kind(client, support, funded):
    other = AccountFactory()
    client.force_login(support)
    url = reverse("admin:ledger_creditaccount_changelist")
    response = client.get(url, {"q": funded.customer.email})
    assert list(response.context["cl"].result_list) == [funded]
    response = client.get(url, {"owner_kind__exact": "api_key"})
    assert list(response.context["cl"].result_list) == []
    assert other in client.get(url).context["cl"].result_list


def test_entries_list_filtered_by_account_shows_only_its_entries(client, support, funded):
    AccountFactory()
    client.force_login(support)
    response = client.get(reverse("admin:ledger_ledgerentry_changelist"), {"account": funded.pk})
    assert {e.account_id for e in response.context["cl"].result_list} == {funded.pk}
    assert [e.pk for e in response.context["cl"].result_list] == sorted(
        (e.pk for e in response.context["cl"].result_list), reverse=True)


def _csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_account_history_csv_is_streamed_newest_first(client, support, funded):
    client.force_login(support)
    response = client.get(reverse("admin:ledger_creditaccount_history_csv", args=[funded.pk]))
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0][:3] == ["id", "account_id", "seq"] and [r[5] for r in rows[1:]] == ["-120", "500"]


def test_entries_export_keeps_the_changelist_filters(client, support, funded):
    AccountFactory()
    client.force_login(support)
    response = client.get(reverse("admin:ledger_ledgerentry_export") + "?entry_type__exact=debit")
    rows = _csv(response)
    assert [r[4] for r in rows[1:]] == ["debit"]


def test_keyset_walk_crosses_batches_without_gaps(funded):
    from ledger.models import LedgerEntry
    from ledger.selectors.entries import entries_keyset

    for n in range(7):
        debit_create(account_id=funded.pk, amount=1, actor=Actor.system("t"), idempotency_key=f"k{n}")
    walked = [e.pk for e in entries_keyset(LedgerEntry.objects.all(), batch_size=3)]
    assert walked == list(LedgerEntry.objects.order_by("-id").values_list("pk", flat=True))


def test_audit_page_filters_by_staff_user(client, operations, support, funded):
    AuditEvent.objects.create(action="grant.create", actor="staff:support", actor_user=support, object_type="account",
                              object_id=str(funded.pk), reason="mine")
    AuditEvent.objects.create(action="grant.void", actor="staff:operations", actor_user=operations,
                              object_type="account", object_id=str(funded.pk), reason="theirs")
    client.force_login(operations)
    url = reverse("admin:ledger_auditevent_changelist")
    response = client.get(url, {"staff": support.pk})
    assert [e.reason for e in response.context["cl"].result_list] == ["mine"]
    assert client.get(url, {"created_at__gte": "2000-01-01"}).status_code == 200


def test_policy_change_through_the_admin_keeps_who_and_why(client, operations, funded):
    client.force_login(operations)
    url = reverse("admin:ledger_workspace_policy", args=[funded.workspace_id])
    key = client.get(url).context["form"]["idempotency_key"].value()
    data = {"expiry_months": "12", "reason": "annual plan", "idempotency_key": key}
    confirm = client.post(url, {**data, "step": "confirm"})
    assert ("expiry_months", "default → 12") in confirm.context["rows"]
    client.post(url, {**data, "step": "do"})
    change = PolicyChange.objects.get()
    assert (change.field, change.new_value, change.changed_by, change.reason) == (
        "expiry_months", "12", operations, "annual plan")
    assert AuditEvent.objects.get(action="policy.update").reason == "annual plan"
    workspace_page = client.get(reverse("admin:ledger_workspace_change", args=[funded.workspace_id]))
    assert b"annual plan" in workspace_page.content


def test_balance_column_shows_debt_with_thousands_separator():
    from django.contrib import admin

    from ledger.admin.accounts import CreditAccountAdmin
    from ledger.models import CreditAccount

    column = CreditAccountAdmin(CreditAccount, admin.site).balance_display
    assert column(CreditAccount(balance=-1500, debt=1500)) == (
        '<span class="credit credit-neg">-1,500</span> <span class="credit-neg">(debt 1,500)</span>')
    assert column(CreditAccount(balance=0, debt=0)) == '<span class="credit credit-zero">0</span>'


def test_accounts_list_shows_an_account_in_debt(client, support, funded):
    actor = Actor.system("tests")
    account_overdraft_set(account_id=funded.pk, limit=5000, actor=actor, reason="trusted")
    debit_create(account_id=funded.pk, amount=1880, actor=actor, idempotency_key="deep")
    client.force_login(support)
    response = client.get(reverse("admin:ledger_creditaccount_changelist"))
    assert response.status_code == 200
    assert "(debt 1,500)" in response.content.decode()
