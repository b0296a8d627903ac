"""The consistency report finds exactly the faults planted in a ledger, and nothing else."""
import pytest

from ledger.reports import report_get

from ...factories import AccountFactory
from ..reporting import defences_off, entry_plant, ledger_build

pytestmark = pytest.mark.django_db


def findings(**params) -> set[tuple]:
    output = report_get("consistency").run(**params)
    assert output.findings == len(output.rows)
    return {(row[0], row[1], row[3], row[4], row[5]) for row in output.rows}


def test_clean_ledger_reports_clean():
    ledger_build()
    output = report_get("consistency").run()
    assert (output.findings, output.rows) == (0, [])


def test_planted_faults_are_found_exactly():
    ledger = ledger_build(workspaces=2, accounts_per_workspace=4)
    a, b, c, d, e, f = ledger.accounts[:6]
    with defences_off() as cursor:
        # a: balance moved without an entry (lots untouched).
        cursor.execute("UPDATE ledger_creditaccount SET balance = balance + 7, total_earned = total_earned + 7 WHERE id = %s", [a.pk])
        # b: a lot changed without an entry (the stored balance still follows the entries).
        cursor.execute("UPDATE ledger_grant SET remaining = remaining - 5 WHERE account_id = %s AND kind = 'signup'", [b.pk])
        # c: an entry whose balance_before is not the previous balance_after; the account
        #    follows the sum of the amounts, so only the chain is wrong.
        entry_plant(cursor, account=c, seq=5, amount=-4, before=c.balance + 1)
        cursor.execute("UPDATE ledger_creditaccount SET balance = balance - 4, total_spent = total_spent + 4, entry_seq = 5 WHERE id = %s", [c.pk])
        cursor.execute("UPDATE ledger_grant SET remaining = remaining - 4 WHERE account_id = %s AND kind = 'signup'", [c.pk])
        # d: a gap: seq 6 follows seq 4, chained correctly by balance.
        entry_plant(cursor, account=d, seq=6, amount=-3, before=d.balance)
        cursor.execute("UPDATE ledger_creditaccount SET balance = balance - 3, total_spent = total_spent + 3, entry_seq = 6 WHERE id = %s", [d.pk])
        cursor.execute("UPDATE ledger_grant SET remaining = remaining - 3 WHERE account_id = %s AND kind = 'signup'", [d.pk])
        # e: totals that do not add up against the entries (balance right, constraint kept).
        cursor.execute("UPDATE ledger_creditaccount SET total_earned = total_earned + 9, total_spent = total_spent + 9 WHERE id = %s", [e.pk])
        # f: a spent lot gone below zero, the other lot holding the difference (sum kept).
        cursor.execute("UPDATE ledger_grant SET remaining = -2 WHERE account_id = %s AND kind = 'purchase'", [f.pk])
        cursor.execute("UPDATE ledger_grant SET remaining = remaining + 2 WHERE account_id = %s AND kind = 'signup'", [f.pk])
    lot_f = f.grants.get(kind="purchase")
    assert findings() == {
        ("balance_entries", a.pk, "balance", a.balance, a.balance + 7),
        ("balance_lots", a.pk, "balance", a.balance, a.balance + 7),
        ("totals", a.pk, "total_earned", a.total_earned, a.total_earned + 7),
        ("balance_lots", b.pk, "balance", b.balance - 5, b.balance),
        ("chain_break", c.pk, "entry seq 5", c.balance, c.balance + 1),
        ("seq_gap", d.pk, "entry seq 6", 5, 6),
        ("totals", e.pk, "total_earned", e.total_earned, e.total_earned + 9),
        ("totals", e.pk, "total_spent", e.total_spent, e.total_spent + 9),
        ("lot_bounds", f.pk, f"lot {lot_f.pk}", f"0..{lot_f.amount}", -2),
    }


def test_account_sequence_behind_its_entries_is_a_gap():
    ledger = ledger_build(workspaces=1, accounts_per_workspace=2)
    account = ledger.accounts[1]
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_creditaccount SET entry_seq = 3 WHERE id = %s", [account.pk])
    assert findings() == {("seq_gap", account.pk, "entry_seq", 4, 3)}


def test_first_entry_not_starting_at_zero_is_a_chain_break():
    ledger = ledger_build(workspaces=1, accounts_per_workspace=1)
    fresh = AccountFactory(workspace=ledger.workspaces[0])
    with defences_off() as cursor:
        entry_plant(cursor, account=fresh, seq=1, amount=-5, before=5)
    assert findings() == {
        ("chain_break", fresh.pk, "entry seq 1", 0, 5),
        ("seq_gap", fresh.pk, "entry_seq", 1, 0),
        ("balance_entries", fresh.pk, "balance", -5, 0),
        ("totals", fresh.pk, "total_spent", 5, 0),
    }


def test_workspace_filter_reports_only_that_workspace():
    ledger = ledger_build(workspaces=2, accounts_per_workspace=2)
    inside, outside = ledger.accounts[0], ledger.accounts[2]
    with defences_off() as cursor:
        for account in (inside, outside):
            cursor.execute("UPDATE ledger_creditaccount SET total_earned = total_earned + 1, total_spent = total_spent + 1 WHERE id = %s", [account.pk])
    found = findings(workspace_id=ledger.workspaces[0].pk)
    assert {row[1] for row in found} == {inside.pk}
    assert {row[1] for row in findings()} == {inside.pk, outside.pk}


def test_limit_caps_rows_per_check():
    ledger = ledger_build(workspaces=1, accounts_per_workspace=3)
    with defences_off() as cursor:
        cursor.execute("UPDATE ledger_creditaccount SET total_earned = total_earned + 1, total_spent = total_spent + 1")
    assert len(findings()) == 6
    output = report_get("consistency").run(limit=1)
    assert [row[1] for row in output.rows] == [ledger.accounts[0].pk] * 2
