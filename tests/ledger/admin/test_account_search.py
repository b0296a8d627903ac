"""The accounts list's search: per owner table, the same matches as the admin's own search."""
import pytest
from django.db import connection
from django.urls import reverse

from ledger.admin import accounts as accounts_admin
from ledger.models import OwnerKind
from ledger.selectors.accounts import account_ids_matching
from tests.factories import AccountFactory, ApiKeyFactory, CustomerFactory, IdentityFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owners(db):
    """One account per owner kind, with ids and names that share no search word."""
    studio = WorkspaceFactory(slug="studio-north")
    other = WorkspaceFactory(slug="harbour")
    ada = AccountFactory(workspace=other, customer=CustomerFactory(workspace=other, email="Ada.Lovelace@Example.com",
                                                                   external_id="cust-77"))
    key = AccountFactory(workspace=other, owner_kind=OwnerKind.API_KEY, customer=None,
                         api_key=ApiKeyFactory(workspace=other, external_id="key_LIVE_9"))
    robot = AccountFactory(workspace=other, owner_kind=OwnerKind.IDENTITY, customer=None,
                           identity=IdentityFactory(workspace=other, external_id="svc-renderer"))
    workspace = AccountFactory(workspace=studio, owner_kind=OwnerKind.WORKSPACE, customer=None)
    return {"ada": ada, "key": key, "robot": robot, "workspace": workspace}


def _found(client, query: str) -> set[int]:
    response = client.get(reverse("admin:ledger_creditaccount_changelist"), {"q": query})
    assert response.status_code == 200
    return {account.pk for account in response.context["cl"].result_list}


@pytest.mark.parametrize("read_first", [True, False], ids=["ids-read-first", "subquery"])
def test_search_matches_each_owner_field_and_every_word(client, support, owners, monkeypatch, read_first):
    if not read_first:  # more matches than are read first: the ids stay a subquery
        monkeypatch.setattr(accounts_admin, "SEARCH_IDS_READ", 0)
    client.force_login(support)
    ids = {name: account.pk for name, account in owners.items()}
    assert _found(client, "lovelace@example") == {ids["ada"]}           # email: substring, any case
    assert _found(client, "cust-77") == {ids["ada"]}                    # product user id: exact
    assert _found(client, "cust-7") == set()                            # ... not a substring
    assert _found(client, "live_9") == {ids["key"]}                     # API key id: substring, any case
    assert _found(client, "RENDER") == {ids["robot"]}                   # identity id
    assert _found(client, "north") == {ids["workspace"]}                # workspace slug
    assert _found(client, "harbour") == {ids["ada"], ids["key"], ids["robot"]}
    assert _found(client, "harbour ada") == {ids["ada"]}                # every word must match
    assert _found(client, '"ada.lovelace" render') == set()
    assert _found(client, "nothing-like-this") == set()
    assert _found(client, "") == set(ids.values())


def test_matching_ids_are_one_query_whatever_the_owner_tables(owners, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert set(account_ids_matching("harbour")) == {owners[n].pk for n in ("ada", "key", "robot")}


@pytest.mark.postgres
def test_postgresql_has_trigram_indexes_for_the_substring_matches():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s ORDER BY 1", ["%trgm"])
        assert [name for (name,) in cursor.fetchall()] == [
            "ledger_apikey_external_id_trgm", "ledger_customer_email_trgm", "ledger_identity_external_id_trgm",
        ]
