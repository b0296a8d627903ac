"""The drop deprecated tables guide, walked end to end with our commands.

The guide's two tables, in its own state (empty) and with seeded volume (rows it assumed
were gone); then its steps: check the current state from the catalog, the cleanup check
(row counts and foreign key references), the drop, the verification that the tables are
gone, running it again (its ``IF EXISTS``: a clean no-op), and what the guide could not
do: a dependency it would have dropped with CASCADE refuses the run, and the tables come
back from the archives with every row. Portable SQL only.
"""
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from migrations_ops import archives
from migrations_ops.legacy import legacy_seed, legacy_table_drop
from migrations_ops.legacy_credit_allocations import CREDIT_ALLOCATION_TRANSACTIONS_TABLE, CREDIT_ALLOCATIONS_TABLE
from migrations_ops.models import Run

pytestmark = pytest.mark.django_db

OP = "drop-credit-allocations"
TABLES = ["credit_allocations", "credit_allocation_transactions"]


@pytest.fixture
def archive_dir(settings, tmp_path):
    settings.MIGRATIONS_ARCHIVE_DIR = str(tmp_path / "archives")
    return Path(settings.MIGRATIONS_ARCHIVE_DIR)


def seed(allocations, transactions):
    legacy_seed(counts={"credit_allocations": allocations, "credit_allocation_transactions": transactions}, seed=3)


@pytest.fixture
def guide_tables(archive_dir):
    seed(200, 600)
    yield archive_dir
    for table in (CREDIT_ALLOCATION_TRANSACTIONS_TABLE, CREDIT_ALLOCATIONS_TABLE):
        legacy_table_drop(table)


def manage(*args):
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def dt():
    """The guide's ``\\dt credit_allocations credit_allocation_transactions``."""
    with connection.cursor() as cursor:
        return sorted(t for t in connection.introspection.table_names(cursor) if t in TABLES)


def rows(table):
    return list(archives.table_rows(table, order_by=["id"]))


def test_the_guides_empty_tables_drop_and_a_second_run_is_a_no_op(archive_dir):
    seed(0, 0)
    assert dt() == sorted(TABLES)
    code, out = manage("migrate_credits", OP, "--execute", "--yes", "--json")
    run = json.loads(out)
    assert (code, run["status"], run["changed"]) == (0, "succeeded", 2)
    assert dt() == []
    code, again = manage("migrate_credits", OP, "--execute", "--yes", "--json")
    assert (code, json.loads(again)["changed"]) == (0, 0)
    assert "already dropped: nothing to do" in manage("migrate_credits", OP)[1]


def test_the_guide_end_to_end_with_rows_it_assumed_gone(guide_tables):
    before = {table: rows(table) for table in TABLES}
    # Step 1-2: current state and the cleanup check: row counts and foreign key references.
    code, plan = manage("migrate_credits", OP)
    assert code == 0
    assert "credit_allocations: 200 rows; referenced by: credit_allocation_transactions." in plan
    assert "credit_allocation_transactions: 600 rows; referenced by: nothing" in plan
    assert dt() == sorted(TABLES)  # a dry run drops nothing

    # Step 3: the drop, children first, each table archived before it goes.
    code, out = manage("migrate_credits", OP, "--execute", "--yes", "--json")
    run = json.loads(out)
    assert run["status"] == "succeeded" and run["totals"]["rows_archived"] == 800
    records = list(Run.objects.get(pk=run["run_id"]).records.order_by("pk").values_list("row_key", flat=True))
    assert records == ["credit_allocation_transactions", "credit_allocations"]

    # Step 4: verify: the tables are gone (and the archives match their checksums).
    assert dt() == []
    assert manage("migrate_credits", "--verify", str(run["run_id"]))[0] == 0

    # The guide's "data cannot be recovered once dropped" does not hold here.
    code, out = manage("migrate_credits", "--rollback", str(run["run_id"]), "--yes", "--reason", "restore")
    assert code == 0, out
    assert dt() == sorted(TABLES) and {table: rows(table) for table in TABLES} == before


def test_a_view_the_guides_cascade_would_have_dropped_refuses_the_run(guide_tables):
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIEW allocation_totals AS SELECT COUNT(*) AS n FROM credit_allocations")
    try:
        code, out = manage("migrate_credits", OP, "--execute", "--yes")
        assert code == 2 and "view allocation_totals uses credit_allocations; drop or change it first" in out
        assert dt() == sorted(TABLES) and not list(guide_tables.rglob("*.gz")) and not Run.objects.exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW allocation_totals")
