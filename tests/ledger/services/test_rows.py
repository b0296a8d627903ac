"""Plain-SQL rows for the posting core: the same instances and rows as the ORM's."""
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict

from ledger import clock
from ledger.models import CreditAccount, Grant, GrantKind, LedgerEntry
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from ledger.services.rows import row_insert, rows_fetch

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
