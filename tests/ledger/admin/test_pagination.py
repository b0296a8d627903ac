"""Counting big tables: exact while small, PostgreSQL's estimates past the limit."""
import pytest
from django.db import connection

from ledger.actors import Actor
from ledger.admin.pagination import LargeTablePaginator
from ledger.models import LedgerEntry
from ledger.services.debits import debit_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(funded):
    for n in range(6):
        debit_create(account_id=funded.pk, amount=1, actor=Actor.system("t"), idempotency_key=f"p{n}")
    return LedgerEntry.objects.order_by("-id")


def test_small_tables_are_counted_exactly(entries):
    paginator = LargeTablePaginator(entries, 3)
    assert (paginator.count, paginator.estimated) == (8, False)
    filtered = LargeTablePaginator(entries.filter(entry_type="debit"), 3)
    assert (filtered.count, filtered.estimated) == (7, False)


@pytest.mark.postgres
def test_past_the_limit_postgresql_estimates_instead_of_counting(entries, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr("ledger.admin.pagination.EXACT_LIMIT", 2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_ledgerentry")
    paginator = LargeTablePaginator(entries, 3)
    with django_assert_num_queries(1):
        assert paginator.count == 8 and paginator.estimated
    filtered = LargeTablePaginator(entries.filter(entry_type="debit"), 3)
    assert filtered.count >= 3 and filtered.estimated
