"""drop-credit-allocations: check from the catalog, archive + drop, dry run = execute, no-op
when gone, resume after a kill, exact rollback, checksum refusal."""
import io
import json
import re
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger.actors import Actor
from migrations_ops import archives
from migrations_ops.exceptions import CheckFailed
from migrations_ops.legacy import legacy_rows_insert, legacy_table_create, legacy_table_drop
from migrations_ops.legacy_credit_allocations import CREDIT_ALLOCATION_TRANSACTIONS_TABLE, CREDIT_ALLOCATIONS_TABLE
from migrations_ops.models import RecordAction, Run, RunStatus
from migrations_ops.operations.drop_credit_allocations import TABLES, DropCreditAllocationsOperation
from migrations_ops.services import rollbacks, runs

from ..conftest import operation_run
from ..management.test_migrate_credits import database_url, migrate_process

OP = "drop-credit-allocations"
T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
ALLOCATIONS = [
    (1, "tenant_001", "user_000001", 1000, T0, None, "active"),
    (2, "tenant_001", "user_000002", 0, T0, datetime(2025, 5, 1, tzinfo=UTC), "exhausted"),
    (3, "tenant_002", "user_000003", 10**12, T0, datetime(2024, 6, 1, tzinfo=UTC), "expired"),
]
TRANSACTIONS = [
    (1, 1, 1000, "allocate", T0, None),
    (2, 1, -250, "consume", T0, "support: goodwill 'refund'"),
    (3, 2, -500, "consume", T0, "Überweisung — ok"),
    (4, 3, 7, "refund", T0, ""),
    (5, 3, -1, "expire", T0, None),
]


def dumps():
    return {t: list(archives.table_rows(t, order_by=["id"])) if archives.table_exists(t) else None for t in TABLES}


def tables_create():
    legacy_table_create(CREDIT_ALLOCATIONS_TABLE)
    legacy_table_create(CREDIT_ALLOCATION_TRANSACTIONS_TABLE)
    legacy_rows_insert(CREDIT_ALLOCATIONS_TABLE, ALLOCATIONS)
    legacy_rows_insert(CREDIT_ALLOCATION_TRANSACTIONS_TABLE, TRANSACTIONS)


def tables_drop():
    for table in (CREDIT_ALLOCATION_TRANSACTIONS_TABLE, CREDIT_ALLOCATIONS_TABLE):
        legacy_table_drop(table)


@pytest.fixture
def archive_dir(settings, tmp_path, monkeypatch):
    settings.MIGRATIONS_ARCHIVE_DIR = str(tmp_path / "archives")
    monkeypatch.setenv("MIGRATIONS_ARCHIVE_DIR", settings.MIGRATIONS_ARCHIVE_DIR)
    return Path(settings.MIGRATIONS_ARCHIVE_DIR)


@pytest.fixture
def allocations(db, archive_dir):
    tables_create()
    yield archive_dir
    tables_drop()


@pytest.fixture
def allocations_tx(transactional_db, archive_dir):
    tables_create()
    yield archive_dir
    tables_drop()


def command(*args):
    out = io.StringIO()
    call_command("migrate_credits", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_check_reports_rows_and_foreign_keys_from_the_catalog(allocations):
    notes = DropCreditAllocationsOperation().check(params={}, execute=True, force=False)
    assert notes.problems == [] and notes.forceable == []
    assert notes.notes["credit_allocations"]["rows"] == 3
    assert notes.notes["credit_allocation_transactions"] == {"rows": 5, "referenced_by": [], "used_by": []}
    [reference] = notes.notes["credit_allocations"]["referenced_by"]
    assert reference.startswith("credit_allocation_transactions.") and "REFERENCES credit_allocations" in reference


def test_the_project_code_no_longer_references_the_tables(settings):
    # The declared scan skips only this operation and its legacy builder.
    assert DropCreditAllocationsOperation().code_references() == []


def test_code_references_are_listed_and_block_execution_unless_forced(allocations, settings, tmp_path, monkeypatch):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("x = 1\nrows = 'SELECT * FROM credit_allocations'\n")
    settings.BASE_DIR = tmp_path
    monkeypatch.setattr(DropCreditAllocationsOperation, "code_paths", ("app",))
    result = DropCreditAllocationsOperation().check(params={}, execute=True, force=False)
    assert result.notes["code_references"] == ["app/views.py:2: rows = 'SELECT * FROM credit_allocations'"]
    with pytest.raises(CheckFailed, match="code still references the tables"):
        runs.run_preview(operation=OP, params={}, execute=True)
    assert runs.run_preview(operation=OP, params={}, execute=True, force=True).check.forceable


def test_a_foreign_key_from_another_table_blocks_the_drop(allocations):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE allocation_audit (id integer PRIMARY KEY, "
                       "allocation_id bigint REFERENCES credit_allocations (id))")
    try:
        with pytest.raises(CheckFailed, match="table allocation_audit references credit_allocations"):
            runs.run_preview(operation=OP, params={}, execute=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE allocation_audit")


#: Objects that use a deprecated table, per database: (kind, name as listed, create, drop).
if connection.vendor == "postgresql":
    DEPENDENTS = [
        ("view", "alloc_view", ["CREATE VIEW alloc_view AS SELECT * FROM credit_allocations"],
         ["DROP VIEW alloc_view"]),
        ("materialized view", "alloc_mv",
         ["CREATE MATERIALIZED VIEW alloc_mv AS SELECT count(*) AS n FROM credit_allocation_transactions"],
         ["DROP MATERIALIZED VIEW alloc_mv"]),
        ("rule", "alloc_rule on alloc_rule_host",
         ["CREATE TABLE alloc_rule_host (id integer)",
          "CREATE RULE alloc_rule AS ON INSERT TO alloc_rule_host DO ALSO DELETE FROM credit_allocations WHERE false"],
         ["DROP TABLE alloc_rule_host"]),
        ("function", "alloc_fn()",
         ["CREATE FUNCTION alloc_fn() RETURNS bigint LANGUAGE plpgsql AS "
          "$$ BEGIN RETURN (SELECT count(*) FROM credit_allocations); END $$"],
         ["DROP FUNCTION alloc_fn()"]),
        ("trigger", "alloc_trg on alloc_trg_host",
         ["CREATE TABLE alloc_trg_host (id integer)",
          "CREATE FUNCTION alloc_trg_fn() RETURNS trigger LANGUAGE plpgsql AS "
          "$$ BEGIN DELETE FROM credit_allocation_transactions WHERE false; RETURN NEW; END $$",
          "CREATE TRIGGER alloc_trg AFTER INSERT ON alloc_trg_host FOR EACH ROW EXECUTE FUNCTION alloc_trg_fn()"],
         ["DROP TABLE alloc_trg_host", "DROP FUNCTION alloc_trg_fn()"]),
    ]
else:
    DEPENDENTS = [
        ("view", "alloc_view", ["CREATE VIEW alloc_view AS SELECT * FROM credit_allocations"],
         ["DROP VIEW alloc_view"]),
        ("trigger", "alloc_trg on alloc_trg_host",
         ["CREATE TABLE alloc_trg_host (id integer)",
          "CREATE TRIGGER alloc_trg AFTER INSERT ON alloc_trg_host BEGIN "
          "DELETE FROM credit_allocation_transactions WHERE 0; END"],
         ["DROP TABLE alloc_trg_host"]),
    ]


def sql_run(statements):
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture(params=DEPENDENTS, ids=[d[0] for d in DEPENDENTS])
def dependent(request, allocations):
    kind, name, create, drop = request.param
    sql_run(create)
    yield f"{kind} {name}"
    sql_run(drop)


def test_a_view_rule_function_or_trigger_using_the_tables_refuses_at_the_check(dependent, allocations):
    before = dumps()
    with pytest.raises(CommandError, match=f"{re.escape(dependent)} uses credit_allocation") as refused:
        command(OP, "--execute", "--yes")
    assert refused.value.returncode == 2
    check = DropCreditAllocationsOperation().check(params={}, execute=True, force=True)
    assert any(dependent in used for table in TABLES for used in check.notes[table]["used_by"])
    assert dumps() == before and not Run.objects.exists() and not list(allocations.rglob("*.gz"))


def test_a_dependent_created_after_the_check_fails_the_row_with_no_archive_and_no_already_dropped(dependent,
                                                                                                   allocations):
    kind, name, create, drop = next(d for d in DEPENDENTS if dependent == f"{d[0]} {d[1]}")
    sql_run(drop)
    preview = runs.run_preview(operation=OP, params={}, execute=True)
    sql_run(create)
    run = runs.run_create(preview=preview, actor=Actor.system("t"), dry_run=False, options={"batch_size": 1})
    run = runs.run_execute(run_id=run.pk, actor=Actor.system("t"))
    assert run.failed >= 1 and all(archives.table_exists(t) for t in TABLES[run.changed:])
    failed = run.records.filter(action=RecordAction.FAILED).first()
    assert failed.message.startswith("still used by ") and dependent in failed.message
    lines = DropCreditAllocationsOperation().run_lines(run=run)
    assert not any("already dropped" in line for line in lines)
    archived = {Path(r.new["archive"]).name for r in run.records.filter(action=RecordAction.CHANGED)}
    assert {p.name for p in allocations.rglob("*.gz")} == archived


@pytest.mark.postgres
def test_a_drop_the_database_refuses_leaves_no_stray_archive(allocations, monkeypatch):
    sql_run(["CREATE VIEW alloc_view AS SELECT * FROM credit_allocation_transactions"])
    monkeypatch.setattr(archives, "objects_using", lambda name, **kw: [])  # as if the check had missed it
    try:
        run = operation_run(OP, batch_size=1)
        record = run.records.get(row_key="credit_allocation_transactions")
        assert record.action == RecordAction.FAILED and record.message.startswith("DROP TABLE refused: cannot drop")
        assert not list(allocations.rglob("*.gz")) and archives.table_exists("credit_allocation_transactions")
        assert not any("already dropped" in line for line in DropCreditAllocationsOperation().run_lines(run=run))
    finally:
        sql_run(["DROP VIEW alloc_view"])


def test_a_failed_run_never_says_already_dropped(allocations, monkeypatch):
    def broken(self, *, rows, ctx):
        raise RuntimeError("disk full")

    monkeypatch.setattr(DropCreditAllocationsOperation, "batch_apply", broken)
    with pytest.raises(CommandError, match="disk full"):
        command(OP, "--execute", "--yes")
    run = Run.objects.get(dry_run=False)
    assert run.status == RunStatus.FAILED
    assert not any("already dropped" in line for line in DropCreditAllocationsOperation().run_lines(run=run))


def test_execute_archives_then_drops_children_first_and_verifies(allocations):
    before = dumps()
    run = operation_run(OP, batch_size=1)
    assert (run.status, run.changed, run.totals) == (RunStatus.SUCCEEDED, 2, {
        "tables_dropped": 2, "rows_archived": 8, "rows:credit_allocations": 3, "rows:credit_allocation_transactions": 5,
    })
    assert list(run.records.order_by("pk").values_list("row_key", flat=True)) == list(TABLES)
    assert dumps() == {t: None for t in TABLES}
    for record in run.records.all():
        path = Path(record.new["archive"])
        assert path.is_relative_to(allocations) and archives.file_sha256(path) == record.new["sha256"]
        header, rows = archives.archive_read(str(path))
        assert header["table"] == record.row_key and rows == before[record.row_key]
    assert runs.run_verify(run_id=run.pk, actor=Actor.system("t")) == []


@pytest.mark.parametrize("batch_size", [1, 2])
def test_dry_run_keeps_tables_and_files_and_its_summary_equals_the_execution(allocations, batch_size):
    before = dumps()
    plan = operation_run(OP, dry_run=True, batch_size=batch_size)
    assert dumps() == before and not any(allocations.rglob("*.gz"))
    assert plan.records.filter(action=RecordAction.CHANGED).count() == 2
    run = operation_run(OP, batch_size=batch_size)
    assert run.summary() == plan.summary()
    assert [r.new["sha256"] for r in run.records.order_by("pk")] == [r.new["sha256"] for r in plan.records.order_by("pk")]


def test_confirmation_summary_names_the_tables_and_row_counts(allocations):
    out = command(OP)
    assert "credit_allocations: 3 rows; referenced by: credit_allocation_transactions." in out
    assert re.search(r"rows:credit_allocation_transactions\s+5\n", out) and "rows:credit_allocations" in out
    # The check's notes are printed too (every operation's, in the dry run's table).
    notes = re.search(r"check: credit_allocation_transactions\s+(.*)\n", out).group(1)
    assert set(notes.split(", ")) == {"rows=5", "referenced_by=none", "used_by=none"}


def test_running_again_when_the_tables_are_gone_is_a_clean_no_op(allocations):
    operation_run(OP)
    result = DropCreditAllocationsOperation().check(params={}, execute=True, force=False)
    assert result.problems == [] and "already dropped" in result.notes["tables"]
    out = json.loads(command(OP, "--execute", "--yes", "--json"))
    assert (out["status"], out["scanned"], out["changed"]) == ("succeeded", 0, 0)
    assert "already dropped: nothing to do" in command(OP)


def test_rollback_recreates_both_tables_with_every_row_and_the_foreign_key(allocations):
    before = dumps()
    run = operation_run(OP)
    result = rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test")
    assert result == {"reverted": 2, "tables_restored": 2, "rows_restored": 8}
    assert dumps() == before
    [reference] = archives.foreign_keys_to("credit_allocations")
    assert reference["table"] == "credit_allocation_transactions"
    assert DropCreditAllocationsOperation().check(params={}, execute=True, force=False).notes["credit_allocations"]["rows"] == 3


def test_rollback_refuses_an_archive_whose_checksum_differs(allocations):
    run = operation_run(OP)
    record = run.records.get(row_key="credit_allocations")
    Path(record.new["archive"]).write_bytes(Path(record.new["archive"]).read_bytes() + b"\0")
    with pytest.raises(archives.ArchiveInvalid, match="does not match its recorded checksum"):
        rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test")
    with pytest.raises(CommandError, match="does not match its recorded checksum") as refused:
        command("--rollback", str(run.pk), "--yes")
    assert refused.value.returncode == 2
    assert dumps() == {t: None for t in TABLES}
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at, committed", [("between:1", 1), ("inside:2", 1)])
def test_resume_after_a_kill_ends_like_an_uninterrupted_run(allocations_tx, kill_at, committed):
    before = dumps()
    plan = operation_run(OP, dry_run=True, batch_size=1)
    killed = migrate_process(OP, "--execute", "--yes", "--batch-size", "1", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = Run.objects.get(dry_run=False)
    assert (run.scanned, run.records.count()) == (committed, committed)
    assert not archives.table_exists("credit_allocation_transactions") and archives.table_exists("credit_allocations")
    resumed = migrate_process("--resume", str(run.pk), "--json", "--primary-dsn", database_url())
    assert resumed.returncode == 0, resumed.stderr
    run.refresh_from_db()
    assert run.summary() == plan.summary() and dumps() == {t: None for t in TABLES}
    rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test")
    assert dumps() == before


def test_runs_from_the_admin_with_the_tables_and_rows_on_the_confirmation_page(client, allocations, monkeypatch,
                                                                               django_capture_on_commit_callbacks):
    from django.urls import reverse

    from migrations_ops import tasks

    from ..test_admin import staff

    queued = []
    monkeypatch.setattr(tasks.run_execute_task, "delay", lambda *a: queued.append(a))
    operator = staff("run_migrations", "rollback_migrations", "view_run")
    client.force_login(operator)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:migrations_ops_run_start"),
                    {"operation": OP, "workspace": "", "batch_size": 1, "throttle_ms": 0})
    plan = Run.objects.get()
    assert tasks.run_execute_task(plan.pk, operator.pk) == RunStatus.SUCCEEDED, Run.objects.get().error
    confirm = client.get(reverse("admin:migrations_ops_run_execute", args=[plan.pk])).content.decode()
    assert "rows:credit_allocations" in confirm and "rows:credit_allocation_transactions" in confirm
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:migrations_ops_run_execute", args=[plan.pk]), {"confirm": "yes"})
    assert tasks.run_execute_task(*queued[-1]) == RunStatus.SUCCEEDED
    assert dumps() == {t: None for t in TABLES}
