"""The billing migration guide (USD ``user_billing`` to credits), walked end to end.

The guide's own two users plus seeded volume (zero, tiny, negative and UAH balances, users
without an email); then its steps with our commands: the dry run and its per-user lines and
summary, the confirmation, the execution, its status view, its per-user and transaction
checks (adapted to our tables), a custom rate, the "migration shows 0 users" check, the
rollback from the log and a re-run. Each outcome asserted is one the guide states or one a
careful operator expects. Portable SQL only.
"""
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger.reports import report_get
from migrations_ops.legacy import legacy_rows_insert, legacy_seed, legacy_table_drop
from migrations_ops.legacy_billing import USER_BILLING_TABLE
from migrations_ops.models import BillingMigrationLog, Run

pytestmark = pytest.mark.django_db

OP = "billing-usd-to-credits"
IGOR = "abfa4cd8-61de-4908-a778-4d23c1574f0a"  # the guide's user
GUIDE_USERS = [
    (IGOR, "igor@legal.org.ua", Decimal("100.00"), Decimal("0.00")),
    ("xyz-guide-user", "test@legal.org.ua", Decimal("50.00"), Decimal("0.00")),
]
SEEDED = 200


@pytest.fixture
def guide_billing():
    legacy_seed(counts={"user_billing": SEEDED}, seed=11)
    legacy_rows_insert(USER_BILLING_TABLE, GUIDE_USERS)
    yield
    legacy_table_drop(USER_BILLING_TABLE)


@pytest.fixture
def guide_only():
    """The guide's example database: its two users and nothing else."""
    legacy_seed(counts={"user_billing": 0}, seed=11)
    legacy_rows_insert(USER_BILLING_TABLE, GUIDE_USERS)
    yield
    legacy_table_drop(USER_BILLING_TABLE)


def manage(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, out.getvalue()
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def sql(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, list(params))
        return cursor.fetchall()


# The guide's queries on our tables: its ``user_credits`` is the account of the product
# user whose external id is the guide's user_id; ``credit_transactions`` are our entries.
USER_CREDITS = """
    SELECT a.balance, a.total_earned, a.total_spent
      FROM ledger_creditaccount a JOIN ledger_customer c ON c.id = a.customer_id
     WHERE c.external_id = %s
"""
TRANSACTIONS = """
    SELECT e.entry_type, e.amount, e.balance_before, e.balance_after, e.source, e.description
      FROM ledger_ledgerentry e JOIN ledger_creditaccount a ON a.id = e.account_id
      JOIN ledger_customer c ON c.id = a.customer_id
     WHERE c.external_id = %s ORDER BY e.created_at DESC, e.id DESC
"""
STILL_HOLDING = "SELECT user_id, balance_usd, balance_uah FROM user_billing WHERE balance_usd > 0 OR balance_uah > 0"


def test_the_guides_dry_run_lists_its_users_and_summary_and_changes_nothing(guide_only):
    code, out = manage("migrate_credits", OP, "--dry-run")
    assert code == 0
    assert f"User: igor@legal.org.ua ({IGOR}) - $100.00 → 100 credits - Would migrate" in out
    assert "User: test@legal.org.ua (xyz-guide-user) - $50.00 → 50 credits - Would migrate" in out
    assert "Summary: users to migrate 2, total USD $150.00, total credits 150" in out
    assert sorted(row[0] for row in sql(STILL_HOLDING)) == [IGOR, "xyz-guide-user"]
    assert not BillingMigrationLog.objects.exists()


def test_execute_asks_for_confirmation_and_refuses_without_it(guide_only):
    code, out = manage("migrate_credits", OP, "--execute")
    assert code == 2 and "refusing without confirmation" in out
    assert sorted(row[0] for row in sql(STILL_HOLDING)) == [IGOR, "xyz-guide-user"]
    assert not BillingMigrationLog.objects.exists() and not Run.objects.filter(dry_run=False).exists()


def test_the_guide_end_to_end_with_volume(guide_billing):
    # Step 2: the dry run's summary is the one the real run prints.
    code, plan = manage("migrate_credits", OP, "--json")
    assert code == 0
    plan = json.loads(plan.strip().splitlines()[-1])
    # Step 3: execute (confirmed with --yes, as a script would).
    code, out = manage("migrate_credits", OP, "--execute", "--yes", "--batch-size", "50", "--json")
    run = json.loads(out.strip().splitlines()[-1])
    assert run["status"] == "succeeded" and run["totals"] == plan["totals"]
    assert run["failed"] > 0  # the seeded negative balances; the guide's users are not among them

    # Step 4: the status view: the guide's user is a success with 100 credits.
    status = report_get("billing_migration_status").run()
    rows = {row[0]: row for row in status.rows}
    assert rows[IGOR][1:4] == ["igor@legal.org.ua", 100, "success"] and rows[IGOR][4] is not None
    assert all(row[3] != "pending" for row in status.rows)  # every user was seen
    failed = [row for row in status.rows if row[3] == "failed"]
    assert failed and all(row[7].startswith("negative balance") for row in failed)
    # Every outcome is in the log, one row per user the run saw.
    assert BillingMigrationLog.objects.filter(run_id=run["run_id"]).count() == SEEDED + 2

    # "Check individual user" and "Check transactions".
    assert sql(USER_CREDITS, [IGOR]) == [(100, 100, 0)]
    # The guide's transaction type "migration" is our grant entry of a lot of kind migration.
    assert sql(TRANSACTIONS.replace("e.entry_type", "e.entry_type, g.kind").replace(
        "JOIN ledger_customer", "JOIN ledger_grant g ON g.id = e.lot_id JOIN ledger_customer"), [IGOR]) == [
        ("grant", "migration", 100, 0, 100, "billing_usd_to_credits",
         "Migrated from user_billing: $100.00 USD → 100 credits (rate: 1.0x)")]

    # The guide's "after" table: user_billing zeroed for the users converted.
    assert IGOR not in [row[0] for row in sql(STILL_HOLDING)]
    # Users still holding money (UAH without --uah-rate, tiny or negative balances) keep the
    # status report failing: exit 1 while users remain unmigrated.
    assert manage("credits_report", "billing_migration_status")[0] == 1

    # Verify, then a second run finds nothing left to convert ("Migration shows 0 users").
    assert manage("migrate_credits", "--verify", str(run["run_id"]))[0] == 1  # failed users are reported
    code, again = manage("migrate_credits", OP, "--execute", "--yes", "--json")
    assert json.loads(again.strip().splitlines()[-1])["totals"].get("credits", 0) == 0

    # Rollback from the log: balances back, credits voided; then the migration runs again.
    code, out = manage("migrate_credits", "--rollback", str(run["run_id"]), "--yes", "--reason", "guide rollback")
    assert code == 0, out
    assert sql(USER_CREDITS, [IGOR]) == [(0, 100, 0)]
    assert IGOR in [row[0] for row in sql(STILL_HOLDING)]
    assert {row[0]: row[3] for row in report_get("billing_migration_status").run().rows}[IGOR] == "rolled_back"
    code, rerun = manage("migrate_credits", OP, "--execute", "--yes", "--json")
    assert json.loads(rerun.strip().splitlines()[-1])["totals"]["credits"] == plan["totals"]["credits"]
    assert sql(USER_CREDITS, [IGOR]) == [(100, 200, 0)]


@pytest.mark.parametrize("rate, credits", [("10.0", 1000), ("0.5", 50)])
def test_the_guides_custom_rates(guide_only, rate, credits):
    code, out = manage("migrate_credits", OP, "--execute", "--yes", "--rate", rate)
    assert code == 0, out
    assert sql(USER_CREDITS, [IGOR])[0][0] == credits
    assert sql(TRANSACTIONS, [IGOR])[0][5] == (
        f"Migrated from user_billing: $100.00 USD → {credits} credits (rate: {rate}x)")
    assert Run.objects.filter(dry_run=False).get().params["rate"] == rate
    # Nothing left: the guide's status report is clean.
    assert manage("credits_report", "billing_migration_status")[0] == 0
