"""The migration-status report: one row per registered operation with migrations_ops' own
counts and its last real run; failed and stuck runs are the findings, nothing else."""
from datetime import timedelta

import pytest

from ledger import clock
from ledger.reports import report_get
from migrations_ops.legacy import KEYS_TABLE, legacy_table_drop
from migrations_ops.models import Run, RunStatus
from migrations_ops.operations import registry
from migrations_ops.operations.base import Operation

from ...migrations_ops.conftest import FAILED, MIGRATED, keys_table_create, operation_run, phase_store

pytestmark = pytest.mark.django_db


def run_plant(operation, status, *, minutes_ago=60, heartbeat_minutes_ago=None, dry_run=False, error=""):
    moment = clock.now() - timedelta(minutes=minutes_ago)
    run = Run.objects.create(operation=operation, status=status, dry_run=dry_run, actor="staff:alice", error=error,
                             started_at=moment, total=10, scanned=4)
    beat = None if heartbeat_minutes_ago is None else clock.now() - timedelta(minutes=heartbeat_minutes_ago)
    Run.objects.filter(pk=run.pk).update(created_at=moment, heartbeat_at=beat)
    return run


def by_operation(output):
    return {row[0]: dict(zip(output.columns, row)) for row in output.rows}


def test_operations_without_runs_report_clean_with_their_counts_or_error():
    output = report_get("migration-status").run()
    rows = by_operation(output)
    assert output.findings == 0 and set(rows) >= {"key-credits", "key-credits-sync-back"}
    assert rows["key-credits"]["status"] == "never run" and rows["key-credits"]["problem"] == ""
    # No legacy keys table here: the status service's error is the detail, and the
    # transaction stays usable on PostgreSQL (the report goes on to read the runs).
    assert rows["key-credits"]["migrated"] is None and "keys" in rows["key-credits"]["detail"]


def test_failed_and_stuck_runs_are_the_only_findings():
    run_plant("key-credits", RunStatus.SUCCEEDED, minutes_ago=300)
    failed = run_plant("key-credits", RunStatus.FAILED, minutes_ago=100, error="IntegrityError: boom")
    run_plant("key-credits", RunStatus.FAILED, dry_run=True, minutes_ago=5)  # dry runs change nothing
    stuck = run_plant("key-credits-sync-back", RunStatus.RUNNING, minutes_ago=90, heartbeat_minutes_ago=20)
    output = report_get("migration-status").run()
    rows = by_operation(output)
    assert output.findings == 2 and output.summary["failed runs"] == 1 and output.summary["stuck runs"] == 1
    assert (rows["key-credits"]["last_run"], rows["key-credits"]["problem"]) == (failed.pk, "failed")
    assert rows["key-credits"]["detail"] == "IntegrityError: boom" and rows["key-credits"]["started_by"] == "staff:alice"
    assert (rows["key-credits-sync-back"]["last_run"], rows["key-credits-sync-back"]["problem"]) == (stuck.pk, "stuck")
    assert [row[0] for row in output.rows[:2]] == ["key-credits", "key-credits-sync-back"]  # problems first


@pytest.mark.parametrize("status, minutes_ago, heartbeat", [
    (RunStatus.RUNNING, 90, 5),        # long run, heartbeat fresh
    (RunStatus.RUNNING, 10, None),     # started 10 minutes ago, no batch yet
    (RunStatus.PAUSED, 600, 500),      # paused on purpose
    (RunStatus.SUCCEEDED, 600, 590),
    (RunStatus.ROLLED_BACK, 600, 590),
])
def test_healthy_last_runs_are_not_findings(status, minutes_ago, heartbeat):
    run_plant("key-credits", status, minutes_ago=minutes_ago, heartbeat_minutes_ago=heartbeat)
    assert report_get("migration-status").run().findings == 0


def test_a_newly_registered_operation_appears_by_itself(monkeypatch):
    class Renamed(Operation):
        name = "zz-test-operation"

        def status(self, *, params):
            return {"migrated": 7, "pending": 3}

    registry._load_builtin()
    monkeypatch.setitem(registry._OPERATIONS, Renamed.name, Renamed)
    run_plant(Renamed.name, RunStatus.FAILED)
    rows = by_operation(report_get("migration-status").run())
    assert (rows[Renamed.name]["migrated"], rows[Renamed.name]["pending"], rows[Renamed.name]["problem"]) == (7, 3, "failed")


@pytest.fixture
def keys_table():
    keys_table_create()
    yield
    legacy_table_drop(KEYS_TABLE)


def test_counts_come_from_the_operation_after_a_real_run(settings, keys_table):
    phase_store("dual")
    run = operation_run("key-credits")
    rows = by_operation(report_get("migration-status").run())
    row = rows["key-credits"]
    assert (row["migrated"], row["failed"], row["last_run"], row["status"]) == (len(MIGRATED), len(FAILED), run.pk, "succeeded")
    assert row["problem"] == ""


def test_health_leaves_out_the_row_counts_in_one_query(django_assert_num_queries):
    run_plant("key-credits", RunStatus.FAILED)
    with django_assert_num_queries(1):
        output = report_get("migration-status").health_run(limit=20)
    row = by_operation(output)["key-credits"]
    assert "migrated" not in output.columns and "pending" not in row
    assert (row["status"], row["problem"], output.findings) == ("failed", "failed", 1)
