"""ledger.services.bulk: many accounts opened with an opening grant each, set-based."""
from datetime import datetime, timezone

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.exceptions import InvalidInput
from ledger.models import ApiKey, AuditEvent, CreditAccount, EntryType, Grant, GrantKind, LedgerEntry, OwnerKind
from ledger.services.bulk import AccountOpening, accounts_open_granted, values_insert
from ledger.services.debits import debit_create
from ledger.services.postings import Posting
from tests.factories import ApiKeyFactory

from ..helpers import nothing_written
from ..invariants import assert_account_consistent

pytestmark = pytest.mark.django_db


def openings(workspace, actor, amounts, **extra):
    keys = [ApiKeyFactory(workspace=workspace) for _ in amounts]
    return [
        AccountOpening(
            workspace_id=workspace.pk, owner_kind=OwnerKind.API_KEY, owner_id=key.pk, amount=amount,
            kind=GrantKind.MIGRATION, reason="import",
            posting=Posting(actor=actor, description=f"opening {n}", source="import", source_id=str(n),
                            idempotency_key=f"import:{n}", fingerprint=f"hash{n}"),
            **extra,
        )
        for n, (key, amount) in enumerate(zip(keys, amounts))
    ]


def test_opens_each_account_with_its_grant_as_entry_one_and_keeps_the_invariants(workspace, actor):
    wanted = openings(workspace, actor, [100, 0, 7], account_fields={"refill_amount": 50, "refill_interval": "daily"})
    with transaction.atomic():
        opened = accounts_open_granted(openings=wanted)
    accounts = [CreditAccount.objects.get(pk=o.account_id) for o in opened]
    assert [a.api_key_id for a in accounts] == [o.owner_id for o in wanted]
    assert [a.balance for a in accounts] == [100, 0, 7]
    for result in opened:
        assert_account_consistent(result.account_id)
        account = CreditAccount.objects.get(pk=result.account_id)
        assert (account.refill_amount, account.refill_interval) == (50, "daily")
    zero = opened[1]
    assert zero.lot_id is None and zero.entry_id is None and accounts[1].entry_seq == 0
    entry = LedgerEntry.objects.get(account_id=opened[0].account_id)
    assert entry.pk == opened[0].entry_id
    assert (entry.seq, entry.entry_type, entry.balance_before, entry.balance_after) == (1, EntryType.GRANT, 0, 100)
    assert (entry.lot_id, entry.idempotency_key, entry.request_hash, entry.actor) == (
        opened[0].lot_id, "import:0", "hash0", actor.label)
    lot = Grant.objects.get(pk=opened[0].lot_id)
    assert (lot.amount, lot.remaining, lot.expires_at, lot.kind, lot.source_id) == (100, 100, None, "migration", "0")


def test_accounts_it_opens_take_further_writes_through_the_services(workspace, actor):
    with transaction.atomic():
        opened = accounts_open_granted(openings=openings(workspace, actor, [100]))
    debit_create(account_id=opened[0].account_id, amount=30, actor=actor, idempotency_key="d1")
    assert_account_consistent(opened[0].account_id)
    assert LedgerEntry.objects.get(account_id=opened[0].account_id, seq=2).balance_before == 100


def test_writes_a_fixed_number_of_statements_whatever_the_number_of_accounts(workspace, actor, django_assert_num_queries):
    few, many = openings(workspace, actor, [5, 6]), openings(workspace, actor, [1] * 40)
    many = [AccountOpening(**{**o.__dict__, "posting": Posting(actor=actor, idempotency_key=f"m{n}")})
            for n, o in enumerate(many)]
    for batch in (few, many):
        with transaction.atomic(), django_assert_num_queries(3 + 2):  # 3 INSERTs + savepoint/release
            with transaction.atomic():
                accounts_open_granted(openings=batch)


@pytest.mark.parametrize("change, field", [
    ({"amount": -1}, "amount"), ({"amount": 10**16}, "amount"), ({"amount": 1.5}, "amount"),
    ({"owner_kind": "bank"}, "owner_kind"), ({"owner_id": None}, "owner_id"),
    ({"priority": 101}, "priority"), ({"account_fields": {"balance": 5}}, "account_fields"),
])
def test_a_bad_opening_is_refused_naming_the_field_and_nothing_is_written(workspace, actor, change, field):
    good = openings(workspace, actor, [10, 20])
    bad = AccountOpening(**{**good[1].__dict__, **change})
    with nothing_written(), pytest.raises(InvalidInput) as error, transaction.atomic():
        accounts_open_granted(openings=[good[0], bad])
    assert error.value.field == field


def test_an_owner_that_already_has_an_account_is_refused(workspace, actor):
    wanted = openings(workspace, actor, [10])
    with transaction.atomic():
        accounts_open_granted(openings=wanted)
    with pytest.raises(IntegrityError), transaction.atomic():
        accounts_open_granted(openings=wanted)
    assert CreditAccount.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_postgresql_triggers_accept_what_it_commits_and_still_guard_it(workspace, actor):
    with transaction.atomic():
        opened = accounts_open_granted(openings=openings(workspace, actor, [100, 0, 3]))
    for result in opened:
        assert_account_consistent(result.account_id)
    # The deferred balance check ran on those accounts: one moved without an entry is refused.
    extra = openings(workspace, actor, [9])
    with pytest.raises(IntegrityError, match="last entry"), transaction.atomic():
        done = accounts_open_granted(openings=extra)
        CreditAccount.objects.filter(pk=done[0].account_id).update(balance=10, total_earned=10)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert CreditAccount.objects.count() == 3


def test_values_insert_writes_every_column_as_given_and_returns_ids_in_row_order(workspace, actor):
    at = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)
    rows = [
        {"action": "import", "actor": actor.label, "object_type": "x", "object_id": "1",
         "details": {"n": 1, "nested": [1, "a", None]}, "reason": "same"},
        {"action": "import", "actor": actor.label, "object_type": "x", "object_id": "2",
         "details": "a JSON string", "reason": "same"},
        {"action": "import", "actor": actor.label, "object_type": "x", "object_id": "3", "reason": "same"},
    ]
    with transaction.atomic():
        ids = values_insert(AuditEvent, rows)
    events = {event.pk: event for event in AuditEvent.objects.filter(pk__in=ids)}
    assert [events[pk].object_id for pk in ids] == ["1", "2", "3"]
    assert [events[pk].details for pk in ids] == [{"n": 1, "nested": [1, "a", None]}, "a JSON string", {}]
    assert {events[pk].reason for pk in ids} == {"same"}
    lots = openings(workspace, actor, [5, 6])
    with transaction.atomic():
        opened = accounts_open_granted(openings=lots)
        lot_ids = values_insert(Grant, [
            {"account_id": opened[0].account_id, "kind": GrantKind.PURCHASE, "amount": 1, "remaining": 0,
             "effective_from": at, "expires_at": at.replace(year=2027), "actor": "a", "idempotency_key": "k1"},
            {"account_id": opened[0].account_id, "kind": GrantKind.PURCHASE, "amount": 1, "remaining": 0,
             "effective_from": at, "expires_at": None, "actor": "a", "idempotency_key": "k2"},
        ])
    first, second = (Grant.objects.get(pk=pk) for pk in lot_ids)
    assert first.effective_from == at and second.effective_from == at  # microseconds kept
    assert (first.expires_at, second.expires_at) == (at.replace(year=2027), None)
    assert first.created_at is not None and second.created_at is not None


def test_values_insert_can_skip_rows_that_break_a_unique_constraint(workspace):
    with transaction.atomic():
        values_insert(ApiKey, [{"workspace_id": workspace.pk, "external_id": "a"}], ignore_conflicts=True)
        inserted = values_insert(ApiKey, [{"workspace_id": workspace.pk, "external_id": external} for external in "ab"],
                                 ignore_conflicts=True)
    assert sorted(ApiKey.objects.filter(workspace=workspace).values_list("external_id", flat=True)) == ["a", "b"]
    # PostgreSQL says which rows it inserted; elsewhere that is unknown (None).
    expected = [ApiKey.objects.get(external_id="b").pk] if connection.vendor == "postgresql" else None
    assert inserted == expected
