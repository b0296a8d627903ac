"""orphaned-credits: orphans per table, archive and delete children first, the foreign key
added without a long lock, catalog verify, exact rollback, resume after kill -9."""
import io
import signal
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from ledger.actors import Actor
from migrations_ops.exceptions import CheckFailed
from migrations_ops.legacy import legacy_rows_insert, legacy_table_create, legacy_table_drop
from migrations_ops.legacy_credits import (
    API_KEY_CREDITS_TABLE,
    CREDIT_TRANSACTIONS_TABLE,
    TEAMS_TABLE,
    USER_CREDITS_TABLE,
    legacy_user_ids,
)
from migrations_ops.models import LegacyUser, RecordAction, Run, RunStatus
from migrations_ops.services import rollbacks
from migrations_ops.services.orphaned_credits import FK_NAME, fk_state, orphan_counts, user_credits_constraints

from ..conftest import operation_run
from ..management.test_migrate_credits import migrate_process

T0 = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
OP = "orphaned-credits"
USERS = [1, 2, 3, 5]  # 4, 8, 9 and 10 were deleted
#: id, user_id, team_id, balance
USER_CREDITS = [(1, 1, 1, 100), (2, 2, None, 0), (3, 4, 1, 50), (4, 5, 2, 10), (5, 9, None, 7), (6, 3, 2, 1)]
#: id, user_id, key_id, balance
API_KEY_CREDITS = [(1, 1, "key_1", 10), (2, 4, "key_2", 20), (3, 8, "key_3", 30)]
#: id, user_id, amount, created_at, description (user 10 has no user_credits row: the
#: guide's cleanup, which went through user_credits, missed such rows)
CREDIT_TRANSACTIONS = [
    (1, 1, 100, T0, "grant"), (2, 4, -50, T0, "usage"), (3, 10, 10, T0, "grant"),
    (4, 2, 10, T0, "grant"), (5, 9, -7, T0, "usage"), (6, 10, -3, T0, "usage"),
]
ORPHANS = {"credit_transactions": 4, "api_key_credits": 2, "user_credits": 2}
TABLES = [CREDIT_TRANSACTIONS_TABLE, API_KEY_CREDITS_TABLE, USER_CREDITS_TABLE, TEAMS_TABLE]


def tables_create():
    LegacyUser.objects.bulk_create([LegacyUser(id=pk, email=f"u{pk}@example.com", credits=10, created_at=T0) for pk in USERS])
    for table, rows in [(TEAMS_TABLE, [(1, "red"), (2, "blue")]), (USER_CREDITS_TABLE, USER_CREDITS),
                        (API_KEY_CREDITS_TABLE, API_KEY_CREDITS), (CREDIT_TRANSACTIONS_TABLE, CREDIT_TRANSACTIONS)]:
        legacy_table_create(table)
        legacy_rows_insert(table, rows)


def tables_drop():
    for table in TABLES:
        legacy_table_drop(table)


@pytest.fixture
def legacy_orphans(db):
    tables_create()
    yield
    tables_drop()


@pytest.fixture
def legacy_orphans_tx(transactional_db):
    tables_create()
    yield
    tables_drop()


def dump() -> dict:
    """Every row of every legacy table, in id order."""
    out = {}
    with connection.cursor() as cursor:
        for table in ("users", "teams", "user_credits", "api_key_credits", "credit_transactions"):
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY "id"')
            out[table] = cursor.fetchall()
    return out


def test_check_counts_orphans_per_table_including_ones_the_guide_missed(legacy_orphans):
    assert orphan_counts() == ORPHANS
    from migrations_ops.services.runs import run_preview

    preview = run_preview(operation=OP, params={}, execute=True)
    assert preview.check.notes["orphans"] == ORPHANS and preview.check.notes["constraint"] == "absent"


def test_execute_archives_deletes_children_first_and_adds_the_foreign_key(legacy_orphans):
    before = dump()
    run = operation_run(OP, batch_size=2)
    assert run.status == RunStatus.SUCCEEDED
    assert run.totals == {"credit_transactions_deleted": 4, "api_key_credits_deleted": 2, "user_credits_deleted": 2,
                          "constraint_added": 1, "constraint_validated": 1}
    assert list(run.records.values_list("row_key", flat=True)) == [
        "credit_transactions:2", "credit_transactions:3", "credit_transactions:5", "credit_transactions:6",
        "api_key_credits:2", "api_key_credits:3", "user_credits:3", "user_credits:5",
        f"fk:{FK_NAME}:add", f"fk:{FK_NAME}:validate",
    ]
    archived = run.records.get(row_key="user_credits:3").old
    assert archived == {"table": "user_credits", "row": {"id": 3, "user_id": 4, "team_id": 1, "balance": 50}}
    after = dump()
    assert after["user_credits"] == [r for r in before["user_credits"] if r[1] in USERS]
    assert [r[0] for r in after["credit_transactions"]] == [1, 4]
    assert orphan_counts() == {t: 0 for t in ORPHANS} and fk_state() == "valid"
    assert run.cursor == ["fk", 2]
    from migrations_ops.services.runs import run_verify

    assert run_verify(run_id=run.pk, actor=Actor.system("tests")) == []
    assert [line for line in user_credits_constraints() if line.endswith("<- new")][0].startswith(FK_NAME)


def test_the_new_key_refuses_orphans_and_cascades_user_deletes(legacy_orphans):
    operation_run(OP)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute('INSERT INTO "user_credits" ("id", "user_id", "team_id", "balance") VALUES (99, 4242, NULL, 1)')
    LegacyUser.objects.filter(pk=1).delete()
    assert [r[1] for r in dump()["user_credits"]] == [2, 5, 3]


def test_dry_run_writes_nothing_and_equals_execute(legacy_orphans):
    before = dump()
    plan = operation_run(OP, dry_run=True, batch_size=2)
    assert dump() == before and fk_state() == "absent"
    run = operation_run(OP, plan_id=plan.pk, batch_size=2)
    assert plan.summary() == run.summary()
    assert list(plan.records.values_list("row_key", "action")) == list(run.records.values_list("row_key", "action"))


def test_rerun_with_the_key_present_is_a_clean_no_op(legacy_orphans):
    operation_run(OP)
    state = dump()
    again = operation_run(OP)
    assert again.status == RunStatus.SUCCEEDED and (again.scanned, again.changed) == (0, 0)
    assert dump() == state


def test_rollback_drops_the_key_and_restores_every_archived_row_exactly(legacy_orphans, actor):
    before = dump()
    run = operation_run(OP, batch_size=3)
    result = rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="restore")
    assert result["restored"] == 8 and result["constraint_dropped"] == 1
    assert dump() == before and fk_state() == "absent"
    run.refresh_from_db()
    assert run.status == RunStatus.ROLLED_BACK
    assert operation_run(OP).changed == 10


def test_missing_legacy_tables_are_refused_and_nothing_is_written(db):
    with pytest.raises(CheckFailed, match="legacy tables missing: user_credits"):
        legacy_table_create(CREDIT_TRANSACTIONS_TABLE)
        legacy_table_create(API_KEY_CREDITS_TABLE)
        try:
            operation_run(OP)
        finally:
            tables_drop()
    assert not Run.objects.exists()


def test_listed_by_migrate_credits(db):
    out = io.StringIO()
    call_command("migrate_credits", "--list", stdout=out)
    assert any(line.startswith(OP) for line in out.getvalue().splitlines())


def test_seeded_user_credits_reference_deleted_users():
    assert legacy_user_ids(8) == [1, 2, 3, 4, 5, 6, 8, 9]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_adds_the_key_not_valid_first_then_validates(legacy_orphans_tx):
    statements = []

    def spy(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        operation_run(OP)
    ddl = [s for s in statements if "lock_timeout" in s or ("CONSTRAINT" in s and "ALTER" in s)]
    assert any("NOT VALID" in s for s in ddl) and any("VALIDATE CONSTRAINT" in s for s in ddl)
    add = next(i for i, s in enumerate(ddl) if "NOT VALID" in s)
    assert "lock_timeout = '2s'" in ddl[add - 1]
    validate = next(i for i, s in enumerate(ddl) if "VALIDATE CONSTRAINT" in s)
    assert "lock_timeout = '2s'" in ddl[validate - 1] and validate > add + 1  # another batch transaction


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at", ["between:2", "inside:2", "between:4"])
def test_resume_after_kill_9_ends_like_an_uninterrupted_run(legacy_orphans_tx, kill_at):
    killed = migrate_process(OP, "--execute", "--yes", "--batch-size", "2", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = Run.objects.get(dry_run=False)
    resumed = migrate_process("--resume", str(run.pk), "--json")
    assert resumed.returncode == 0, resumed.stderr
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.changed == 10
    assert run.records.filter(action=RecordAction.CHANGED).count() == 10
    assert orphan_counts() == {t: 0 for t in ORPHANS} and fk_state() == "valid"


def test_seed_legacy_makes_orphans_the_operation_cleans_and_users_expiry_backfill_opens(db):
    out = io.StringIO()
    call_command("seed_legacy", "--users", "60", "--teams", "5", "--user-credits", "70", "--api-key-credits", "40",
                 "--credit-transactions", "90", "--seed", "3", stdout=out)
    assert "users: 60 rows" in out.getvalue() and LegacyUser.objects.count() == 60
    try:
        counts = orphan_counts()
        assert all(counts[table] > 0 for table in ORPHANS), counts
        run = operation_run(OP, batch_size=25)
        assert run.changed == sum(counts.values()) + 2 and orphan_counts() == {t: 0 for t in ORPHANS}
        backfill = operation_run("expiry-backfill", batch_size=25)
        assert backfill.status == RunStatus.SUCCEEDED and backfill.failed > 0 and backfill.totals["opening_expired"] > 0
    finally:
        tables_drop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_a_held_lock_times_out_the_add_and_a_resume_finishes(legacy_orphans_tx, actor):
    import psycopg

    from migrations_ops.services import runs

    s = connection.settings_dict
    other = psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                            password=s["PASSWORD"] or None, dbname=s["NAME"])
    try:
        # An open write transaction on user_credits: ADD CONSTRAINT must not queue behind it
        # (and stall every later query on the table); it gives up after the lock timeout.
        other.execute('UPDATE "user_credits" SET "balance" = "balance" WHERE "id" = 1')
        with pytest.raises(Exception, match="lock timeout"):
            operation_run(OP, batch_size=100)
        run = Run.objects.get(dry_run=False)
        assert run.status == RunStatus.FAILED and run.cursor == ["user_credits", 5] and fk_state() == "absent"
    finally:
        other.rollback()
        other.close()
    resumed = runs.run_execute(run_id=run.pk, actor=actor)
    assert resumed.status == RunStatus.SUCCEEDED and fk_state() == "valid" and resumed.changed == 10
