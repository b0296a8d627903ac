"""Account selectors: workspace scoping and query counts that do not grow with history."""
from datetime import timedelta

import pytest

from ledger import clock
from ledger.exceptions import AccountNotFound, InvalidInput
from ledger.models import EntryType, GrantKind
from ledger.selectors.accounts import account_balance_get, account_by_owner_get, entries_list
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(account, actor):
    soon = clock.now() + timedelta(days=5)
    for n in range(10):
        grant_create(account_id=account.pk, amount=10, kind=GrantKind.PURCHASE, actor=actor,
                     idempotency_key=f"g{n}", expires_at=soon if n % 2 else None)
        debit_create(account_id=account.pk, amount=3, actor=actor, idempotency_key=f"d{n}")
    return account


def test_balance_is_three_queries_whatever_the_number_of_lots(history, django_assert_num_queries):
    with django_assert_num_queries(3):
        balance = account_balance_get(account_id=history.pk, workspace_id=history.workspace_id, expiring_within_days=7)
    assert balance.account.balance == 70 and balance.available == 70
    assert balance.expiring_credits == sum(lot.remaining for lot in balance.expiring_lots)
    assert balance.expiring_lots and all(lot.remaining > 0 and lot.expires_at for lot in balance.expiring_lots)


def test_entries_are_one_check_and_one_page_query(history, django_assert_num_queries):
    with django_assert_num_queries(2):
        page = list(entries_list(account_id=history.pk, workspace_id=history.workspace_id, types=[EntryType.DEBIT])[:5])
    assert [e.entry_type for e in page] == [EntryType.DEBIT] * 5 and page[0].id > page[-1].id


def test_selectors_do_not_see_other_workspaces(history):
    other = WorkspaceFactory()
    with pytest.raises(AccountNotFound):
        account_balance_get(account_id=history.pk, workspace_id=other.pk)
    with pytest.raises(AccountNotFound):
        entries_list(account_id=history.pk, workspace_id=other.pk)
    with pytest.raises(AccountNotFound):
        account_by_owner_get(workspace_id=other.pk, owner_kind="customer", external_id=history.customer.external_id)


def test_lookup_by_owner_needs_a_known_kind(history):
    with pytest.raises(InvalidInput):
        account_by_owner_get(workspace_id=history.workspace_id, owner_kind="robot", external_id="x")
