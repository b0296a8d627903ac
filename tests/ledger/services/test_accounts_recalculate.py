"""Repairing an account: rebuilt from entries, lot differences booked as an adjustment entry,
audited, never rewriting an entry."""
import pytest
from django.db import connection

from ledger.exceptions import InvalidInput, InvalidState
from ledger.models import AuditEvent, EntryType, LedgerEntry
from ledger.reports import report_get
from ledger.services.accounts import account_recalculate

from ..helpers import nothing_written
from ..reporting import ACTOR, defences_off, entry_plant, ledger_build


def consistent() -> bool:
    return report_get("consistency").run().findings == 0


@pytest.mark.django_db
def test_drifted_account_fields_are_rebuilt_from_entries_without_an_entry():
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_creditaccount SET balance = balance + 7, total_earned = total_earned + 7 WHERE id = %s", [account.pk])
    entries = LedgerEntry.objects.count()
    done = account_recalculate(account_id=account.pk, actor=ACTOR, reason="ticket 12")
    assert (done.before["balance"], done.after["balance"], done.adjustment) == (account.balance + 7, account.balance, 0)
    assert LedgerEntry.objects.count() == entries and consistent()
    event = AuditEvent.objects.get(action="account.recalculate")
    assert (event.object_id, event.reason, event.details["before"]["balance"]) == (str(account.pk), "ticket 12", account.balance + 7)


@pytest.mark.django_db
def test_lots_holding_a_different_amount_get_an_adjustment_entry():
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_grant SET remaining = remaining + 15 WHERE account_id = %s AND kind = 'signup'", [account.pk])
    done = account_recalculate(account_id=account.pk, actor=ACTOR, reason="credits loaded by SQL")
    entry = LedgerEntry.objects.get(pk=done.adjustment_entry_id)
    assert (entry.entry_type, entry.amount, entry.seq, entry.balance_before, entry.balance_after, entry.source) == (
        EntryType.ADJUSTMENT, 15, account.entry_seq + 1, account.balance, account.balance + 15, "repair")
    assert "credits loaded by SQL" in entry.description and done.adjustment == 15
    account.refresh_from_db()
    assert (account.balance, account.total_earned) == (done.after["balance"], done.after["total_earned"])
    assert consistent()
    assert AuditEvent.objects.get().details["adjustment_entry"] == entry.pk


@pytest.mark.django_db
def test_lots_holding_less_book_a_negative_adjustment():
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_grant SET remaining = remaining - 4 WHERE account_id = %s AND kind = 'signup'", [account.pk])
    done = account_recalculate(account_id=account.pk, actor=ACTOR, reason="lost lot")
    assert done.adjustment == -4 and done.after["total_spent"] == account.total_spent + 4
    assert consistent()


@pytest.mark.django_db
def test_broken_chain_is_refused_and_nothing_written():
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    with defences_off() as cursor:
        entry_plant(cursor, account=account, seq=5, amount=-4, before=account.balance + 1)
    with nothing_written(), pytest.raises(InvalidState, match="chain is broken"):
        account_recalculate(account_id=account.pk, actor=ACTOR, reason="try")


@pytest.mark.django_db
def test_reason_is_required():
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    with nothing_written(), pytest.raises(InvalidInput, match="reason"):
        account_recalculate(account_id=account.pk, actor=ACTOR, reason=" ")


@pytest.mark.django_db
def test_repairing_a_consistent_account_changes_nothing_but_is_audited():
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    done = account_recalculate(account_id=account.pk, actor=ACTOR, reason="check")
    assert not done.changed and done.adjustment == 0 and AuditEvent.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_repair_commits_past_the_deferred_balance_trigger():
    account = ledger_build(workspaces=1, accounts_per_workspace=1).accounts[0]
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE ledger_grant SET remaining = remaining + 3 WHERE account_id = %s AND kind = 'signup'", [account.pk])
        cursor.execute("UPDATE ledger_creditaccount SET balance = balance + 1, total_earned = total_earned + 1 WHERE id = %s", [account.pk])
        cursor.execute("SET session_replication_role = origin")
    assert not consistent()
    done = account_recalculate(account_id=account.pk, actor=ACTOR, reason="committed repair")
    assert done.adjustment == 3 and consistent()
