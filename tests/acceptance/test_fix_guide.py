"""The credit system fix guide (orphaned ``user_credits``, the missing foreign key), end to end.

Legacy users, teams, user credits, API key credits and credit transactions seeded with
orphans (rows of users that no longer exist), plus the guide's own kind of row; then its
steps with our commands: the orphan check (its query), the cleanup and the foreign key
(one run: archived deletes, children first, then the key added and validated), the schema
verification from the catalog (its query, on PostgreSQL), the key's ON DELETE CASCADE, its
rollback plan (the key dropped, and here the rows restored too) and a re-run.
"""
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from migrations_ops.legacy import legacy_table_drop
from migrations_ops.legacy_credits import (
    API_KEY_CREDITS_TABLE,
    CREDIT_TRANSACTIONS_TABLE,
    TEAMS_TABLE,
    USER_CREDITS_TABLE,
)
from migrations_ops.models import LegacyUser
from migrations_ops.services.orphaned_credits import FK_NAME, orphan_counts

pytestmark = pytest.mark.django_db

OP = "orphaned-credits"
#: The guide's step 2 query, as written.
ORPHANED = "SELECT user_id FROM user_credits WHERE user_id NOT IN (SELECT id FROM users)"
#: The guide's step 6 query (PostgreSQL's information_schema).
FOREIGN_KEYS = """
    SELECT constraint_name, table_name FROM information_schema.table_constraints
     WHERE table_name = 'user_credits' AND constraint_type = 'FOREIGN KEY' ORDER BY constraint_name
"""


@pytest.fixture
def guide_tables():
    call_command("seed_legacy", "--users", "300", "--teams", "10", "--user-credits", "360",
                 "--api-key-credits", "150", "--credit-transactions", "900", "--seed", "5", stdout=io.StringIO())
    yield
    for table in (CREDIT_TRANSACTIONS_TABLE, API_KEY_CREDITS_TABLE, USER_CREDITS_TABLE, TEAMS_TABLE):
        legacy_table_drop(table)


def manage(*args):
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def sql(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, list(params))
        return cursor.fetchall()


def table_dump(table):
    return sql(f'SELECT * FROM "{table}" ORDER BY "id"')


def test_the_fix_guide_end_to_end(guide_tables):
    before = {t: table_dump(t) for t in ("user_credits", "api_key_credits", "credit_transactions")}
    orphans = orphan_counts()
    # Step 2: the guide's check finds orphans (it expects none; a real database has some).
    assert len(sql(ORPHANED)) == orphans["user_credits"] > 0
    code, out = manage("migrate_credits", OP, "--json")
    plan = json.loads(out)
    assert plan["check_notes"]["orphans"] == orphans and plan["check_notes"]["constraint"] == "absent"

    # Steps 3 and 5: cleanup, children first (including transactions of gone users that had no
    # user_credits row, which the guide's cleanup missed), then the key.
    code, out = manage("migrate_credits", OP, "--execute", "--yes", "--batch-size", "100", "--json")
    run = json.loads(out)
    assert (code, run["status"]) == (0, "succeeded")
    assert run["changed"] == sum(orphans.values()) + 2  # every orphan, then add and validate the key
    assert sql(ORPHANED) == [] and orphan_counts() == {table: 0 for table in orphans}

    # Step 6: the key is in the catalog.
    if connection.vendor == "postgresql":
        assert (FK_NAME, "user_credits") in sql(FOREIGN_KEYS)
    assert manage("migrate_credits", "--verify", str(run["run_id"]))[0] == 0

    # The key holds: no new orphan, and deleting a user cascades to its credits.
    user = LegacyUser.objects.filter(pk__in=[row[0] for row in sql("SELECT user_id FROM user_credits")]).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        sql("INSERT INTO user_credits (id, user_id, team_id, balance) VALUES (999999, 999999, NULL, 1)")
    user.delete()
    assert sql("SELECT COUNT(*) FROM user_credits WHERE user_id = %s", [user.pk]) == [(0,)]

    # A second run finds nothing to do.
    code, out = manage("migrate_credits", OP, "--execute", "--yes", "--json")
    assert (code, json.loads(out)["changed"]) == (0, 0)

    # The guide's rollback plan drops the key; ours also puts every archived row back.
    code, out = manage("migrate_credits", "--rollback", str(run["run_id"]), "--yes", "--reason", "guide rollback")
    assert code == 0, out
    if connection.vendor == "postgresql":
        assert (FK_NAME, "user_credits") not in sql(FOREIGN_KEYS)
    restored = {t: table_dump(t) for t in before}
    # The user deleted above took its own rows with it (cascade); everything else is back.
    assert restored["api_key_credits"] == before["api_key_credits"]
    assert len(sql(ORPHANED)) == orphans["user_credits"]
