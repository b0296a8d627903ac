"""The database itself refuses rows that break ledger rules, whatever the ORM does."""
import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Allocation, CreditAccount, Grant, LedgerEntry, OwnerKind
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from tests.factories import ApiKeyFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(account, actor):
    grant_create(account_id=account.pk, amount=100, kind="purchase", actor=actor, idempotency_key="g")
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="d")
    return account


def refused(statement):
    with pytest.raises(IntegrityError), transaction.atomic():
        statement()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # run deferred checks now, inside the block
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.parametrize("values", [{"remaining": -1}, {"remaining": 101}, {"amount": 0, "remaining": 0}])
def test_lot_remaining_must_stay_within_zero_and_amount(funded, values):
    refused(lambda: Grant.objects.filter(account=funded).update(**values))


def test_expired_or_voided_lot_must_hold_nothing(funded):
    from django.utils import timezone

    refused(lambda: Grant.objects.filter(account=funded).update(voided_at=timezone.now()))


def test_entry_amount_must_not_be_zero_and_must_chain(funded):
    last = LedgerEntry.objects.filter(account=funded).order_by("-seq").first()
    base = dict(account=funded, entry_type="debit", actor="raw", seq=last.seq + 1, balance_before=last.balance_after)
    refused(lambda: LedgerEntry.objects.create(**base, amount=0, balance_after=last.balance_after))
    refused(lambda: LedgerEntry.objects.create(**base, amount=-1, balance_after=last.balance_after))
    refused(lambda: LedgerEntry.objects.create(**(base | {"seq": last.seq}), amount=-1, balance_after=last.balance_after - 1))


def test_idempotency_key_unique_per_account(funded):
    last = LedgerEntry.objects.filter(account=funded).order_by("-seq").first()
    refused(lambda: LedgerEntry.objects.create(
        account=funded, entry_type="debit", actor="raw", seq=last.seq + 1, amount=-1,
        balance_before=last.balance_after, balance_after=last.balance_after - 1, idempotency_key="d",
    ))


def test_allocation_refunded_within_amount(funded):
    refused(lambda: Allocation.objects.update(refunded=31))


def test_account_must_have_exactly_one_owner(workspace):
    customer = CustomerFactory(workspace=workspace)
    key = ApiKeyFactory(workspace=workspace)
    refused(lambda: CreditAccount.objects.create(workspace=workspace, owner_kind=OwnerKind.CUSTOMER))
    refused(lambda: CreditAccount.objects.create(
        workspace=workspace, owner_kind=OwnerKind.CUSTOMER, customer=customer, api_key=key,
    ))
    refused(lambda: CreditAccount.objects.create(workspace=workspace, owner_kind=OwnerKind.WORKSPACE, api_key=key))
    CreditAccount.objects.create(workspace=workspace, owner_kind=OwnerKind.WORKSPACE)
    refused(lambda: CreditAccount.objects.create(workspace=workspace, owner_kind=OwnerKind.WORKSPACE))


def test_account_totals_must_add_up_and_debt_stay_within_overdraft(funded):
    refused(lambda: CreditAccount.objects.filter(pk=funded.pk).update(total_spent=1))
    refused(lambda: CreditAccount.objects.filter(pk=funded.pk).update(debt=1))


@pytest.mark.postgres
def test_entries_refuse_update_and_delete_even_raw(funded):
    refused(lambda: LedgerEntry.objects.filter(account=funded).update(description="rewritten"))
    refused(lambda: LedgerEntry.objects.filter(account=funded).delete())
    with connection.cursor() as cursor:
        refused(lambda: cursor.execute("UPDATE ledger_ledgerentry SET amount = amount * 2"))
        refused(lambda: cursor.execute("DELETE FROM ledger_ledgerentry"))
    assert LedgerEntry.objects.filter(account=funded).count() == 2


@pytest.mark.postgres
def test_balance_cannot_move_without_an_entry(funded):
    refused(lambda: CreditAccount.objects.filter(pk=funded.pk).update(balance=1000, total_earned=1030))


@pytest.mark.postgres
def test_lots_cannot_move_without_the_balance(funded):
    def shrink_lot_and_touch_account():
        Grant.objects.filter(account=funded).update(remaining=60)
        CreditAccount.objects.filter(pk=funded.pk).update(updated_at=funded.updated_at)

    refused(shrink_lot_and_touch_account)


@pytest.mark.postgres
def test_entry_must_start_where_the_previous_ended(funded):
    last = LedgerEntry.objects.filter(account=funded).order_by("-seq").first()
    refused(lambda: LedgerEntry.objects.create(
        account=funded, entry_type="debit", actor="raw", seq=last.seq + 1, amount=-1,
        balance_before=last.balance_after + 5, balance_after=last.balance_after + 4,
    ))
    refused(lambda: LedgerEntry.objects.create(
        account=funded, entry_type="debit", actor="raw", seq=last.seq + 2, amount=-1,
        balance_before=last.balance_after, balance_after=last.balance_after - 1,
    ))
