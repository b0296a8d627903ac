"""Plain-SQL rows for the posting core: the same instances and rows as the ORM's."""
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict

from ledger import clock
from ledger.models import CreditAccount, Grant, GrantKind, LedgerEntry
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from ledger.services.rows import PREPARE_THRESHOLD, prepared_cursor, row_insert, rows_fetch

pytestmark = pytest.mark.django_db


def _values(instance):
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_fetched_rows_equal_the_orm_instances(account, actor):
    grant_create(account_id=account.pk, amount=9, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g",
                 expires_at=clock.now() + timedelta(days=3))
    debit_create(account_id=account.pk, amount=2, actor=actor, idempotency_key="d")
    for model in (CreditAccount, Grant, LedgerEntry):
        fetched = rows_fetch(model, "SELECT {columns} FROM {table} ORDER BY id", [])
        assert [_values(row) for row in fetched] == [_values(row) for row in model.objects.order_by("id")]
        assert all(not row._state.adding for row in fetched)


def test_inserted_row_reads_back_as_saved_with_its_id_and_creation_time(account, actor):
    lot = grant_create(account_id=account.pk, amount=5, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="g").grant
    before = clock.now()
    copy = Grant(account=account, kind=GrantKind.MANUAL, amount=5, remaining=0, effective_from=before,
                 expires_at=None, reason="copy", actor="system:tests")
    row_insert(copy)
    assert copy.pk > lot.pk and copy.created_at >= before and not copy._state.adding
    assert model_to_dict(Grant.objects.get(pk=copy.pk)) == model_to_dict(copy)


@pytest.mark.postgres
def test_prepared_cursor_statements_are_prepared_once_they_repeat_and_still_logged(django_assert_num_queries):
    from django.db import connection

    sql = "SELECT %s::bigint + 1"

    def prepared_here() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%::bigint + 1%"])
            return cursor.fetchone()[0]

    assert prepared_here() == 0
    with django_assert_num_queries(PREPARE_THRESHOLD + 1):
        for n in range(PREPARE_THRESHOLD + 1):
            with prepared_cursor() as cursor:
                cursor.execute(sql, [n])
                assert cursor.fetchone() == (n + 1,)
    assert prepared_here() == 1


@pytest.mark.postgres
def test_prepared_cursor_prepares_nothing_when_prepared_statements_are_off(settings):
    from django.db import connection

    settings.LEDGER_PREPARED_STATEMENTS = False
    connection.ensure_connection()
    connection.connection.prepare_threshold = None  # as Django opens connections
    for n in range(PREPARE_THRESHOLD + 2):
        with prepared_cursor() as cursor:
            cursor.execute("SELECT %s::bigint + 2", [n])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)
