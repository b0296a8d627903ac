"""migrate_credits: modes, confirmation, JSON, bad arguments, DSNs, kill -9 and resume."""
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from ledger.actors import Actor
from migrations_ops.connections import READONLY_ALIAS
from migrations_ops.exceptions import ActiveRunExists
from migrations_ops.models import Run, RunRecord, RunStatus
from migrations_ops.operations.key_credits import KeyCreditsOperation
from migrations_ops.services import runs
from tests.concurrency import run_in_threads

from ...ledger.helpers import snapshot
from ..conftest import MIGRATED, operation_run
from ..operations.test_key_credits import ledger_state

BASE_DIR = Path(__file__).resolve().parents[3]


def command(*args, stdin=None):
    out, err = io.StringIO(), io.StringIO()
    call_command("migrate_credits", *args, stdout=out, stderr=err, **({"stdin": stdin} if stdin else {}))
    return out.getvalue()


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.django_db
def test_list_names_every_operation_on_one_line():
    lines = command("--list").splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(set(names))
    assert {
        "key-credits", "key-credits-sync-back", "drop-credit-allocations", "billing-usd-to-credits",
        "expiry-backfill", "orphaned-credits",
    } <= set(names)


@pytest.mark.django_db
def test_json_prints_one_object_with_run_status_and_counters(legacy_keys, dual_phase):
    result = json.loads(command("key-credits", "--execute", "--yes", "--json", "--batch-size", "4"))
    assert result["status"] == "succeeded" and not result["dry_run"]
    assert (result["scanned"], result["changed"], result["skipped"], result["failed"]) == (12, 5, 3, 4)
    assert Run.objects.get(pk=result["run_id"]).status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_dry_run_is_the_default_and_prints_a_summary_table(legacy_keys, dual_phase):
    output = command("key-credits")
    assert "dry run" in output and "changed" in output and "accounts_opened" in output
    assert not ledger_state()[0]


@pytest.mark.django_db
def test_execute_asks_for_yes_after_the_dry_run_summary(legacy_keys, dual_phase):
    with pytest.raises(CommandError, match="not confirmed"):
        command("key-credits", "--execute", stdin=Terminal("no\n"))
    assert not Run.objects.filter(dry_run=False).exists() and not ledger_state()[0]
    output = command("key-credits", "--execute", stdin=Terminal("yes\n"))
    run = Run.objects.get(dry_run=False)
    assert "Type yes" in output and run.plan.dry_run and run.summary() == run.plan.summary()


@pytest.mark.django_db
def test_execute_without_a_terminal_or_yes_is_refused_before_anything_is_written(legacy_keys, dual_phase):
    with pytest.raises(CommandError, match="not a terminal") as refused:
        command("key-credits", "--execute", stdin=io.StringIO("yes\n"))
    # Not even the dry run the confirmation would have shown is stored.
    assert refused.value.returncode == 2 and not Run.objects.exists() and not ledger_state()[0]


@pytest.mark.django_db
@pytest.mark.parametrize("args", [("--workspace", "ws_nope"), ("--workspace", "ws_nope", "--execute", "--yes")])
def test_an_unknown_workspace_is_refused_naming_it(legacy_keys, dual_phase, args):
    with pytest.raises(CommandError, match="--workspace 'ws_nope': key-credits knows no such workspace") as refused:
        command("key-credits", *args)
    assert refused.value.returncode == 2 and not Run.objects.exists() and not ledger_state()[0]
    # A workspace of the legacy keys is known.
    assert json.loads(command("key-credits", "--workspace", "ws_beta", "--json"))["status"] == "succeeded"


@pytest.mark.django_db
def test_the_checks_notes_are_in_the_dry_run_output_and_the_json(legacy_keys, dual_phase):
    assert "check: phase" in command("key-credits") and "dual" in command("key-credits")
    notes = json.loads(command("key-credits", "--json"))["check_notes"]
    assert notes["phase"] == "dual" and Run.objects.first().check_notes == notes


@pytest.mark.django_db
def test_rollback_refuses_spent_credits_with_a_non_zero_exit(legacy_keys, dual_phase):
    from ledger.models import CreditAccount
    from ledger.services.debits import debit_create

    run = operation_run()
    account = CreditAccount.objects.get(api_key__external_id="key_b01")
    debit_create(account_id=account.pk, amount=2, actor=Actor.system("t"), idempotency_key="x")
    with pytest.raises(CommandError, match="refusing to roll back") as refused:
        command("--rollback", str(run.pk), "--yes")
    assert refused.value.returncode == 3
    result = json.loads(command("--rollback", str(run.pk), "--yes", "--settle", "keep", "--json"))
    assert result["status"] == "rolled_back"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "unknown operation 'nope'"),
        (["key-credits", "--batch-size", "0"], "--batch-size must be a whole number >= 1"),
        (["key-credits", "--batch-size", "-5"], "--batch-size must be a whole number >= 1"),
        (["key-credits", "--readonly-dsn", "foo://host/db"], "expected postgres://, mysql:// or sqlite://"),
        (["key-credits", "--primary-dsn", "postgres://"], "needs a host and a database name"),
        (["key-credits", "--readonly-dsn", "not a dsn"], "--readonly-dsn"),
        (["--resume", "424242"], "run '424242' does not exist"),
        (["--rollback", "abc"], "run 'abc' does not exist"),
        (["--verify", "0"], "run '0' does not exist"),
        (["key-credits", "--dry-run", "--execute"], "choose one of"),
        (["key-credits", "--max-rows", "0"], "--max-rows"),
        (["--execute"], "name an operation"),
        (["key-credits", "--rollback", "1", "--settle", "spend"], "does not exist"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_reason_and_write_nothing(legacy_keys, dual_phase, args, message):
    before = snapshot(), Run.objects.count(), RunRecord.objects.count()
    with pytest.raises(CommandError, match=message) as refused:
        command(*args)
    assert refused.value.returncode != 0
    assert "\n" not in str(refused.value)
    assert (snapshot(), Run.objects.count(), RunRecord.objects.count()) == before


@pytest.mark.django_db
def test_unknown_settle_mode_is_refused(legacy_keys, dual_phase):
    run = operation_run()
    with pytest.raises(CommandError, match="not a settle mode"):
        command("--rollback", str(run.pk), "--settle", "spend", "--yes")
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


# -- real connections and processes -------------------------------------------------------------


def database_url():
    """The test database as a DSN, for subprocesses and extra aliases."""
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


@pytest.fixture
def readonly_alias(monkeypatch, django_db_blocker):
    # Django's test case refuses aliases that were not in settings when the test started;
    # the readonly alias is registered during the test, so let it connect.
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", django_db_blocker._real_ensure_connection)
    yield
    if READONLY_ALIAS in connections.databases:
        connections[READONLY_ALIAS].close()
        del connections.databases[READONLY_ALIAS]


@pytest.mark.django_db(transaction=True)
def test_readonly_dsn_reads_batches_there_and_writes_to_the_primary(legacy_keys_tx, dual_phase, readonly_alias, monkeypatch):
    used = []
    real = KeyCreditsOperation.batch_read

    def spy(self, **kwargs):
        used.append(kwargs["using"])
        return real(self, **kwargs)

    monkeypatch.setattr(KeyCreditsOperation, "batch_read", spy)
    result = json.loads(command("key-credits", "--execute", "--yes", "--json", "--readonly-dsn", database_url()))
    assert result["status"] == "succeeded" and result["changed"] == 5
    assert set(used) == {READONLY_ALIAS}
    assert {key: state[1] for key, state in ledger_state()[0].items()} == MIGRATED


def migrate_process(*args, kill_at=None, database_url_env=None):
    env = {**os.environ, "DATABASE_URL": database_url_env or database_url()}
    env.pop("MIGRATIONS_OPS_KILL_AT", None)
    if kill_at:
        env["MIGRATIONS_OPS_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "manage.py", "migrate_credits", *args], cwd=BASE_DIR, env=env,
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at, committed", [("between:2", 6), ("inside:2", 3)])
def test_resume_after_kill_9_ends_like_an_uninterrupted_run(legacy_keys_tx, dual_phase, tmp_path, kill_at, committed):
    plan = operation_run(dry_run=True)
    killed = migrate_process("key-credits", "--execute", "--yes", "--batch-size", "3", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = Run.objects.get(dry_run=False)
    assert (run.status, run.scanned, run.records.count()) == (RunStatus.RUNNING, committed, committed)
    # The resuming process starts on an empty default database and is pointed at the
    # real one by --primary-dsn.
    resumed = migrate_process("--resume", str(run.pk), "--json", "--primary-dsn", database_url(),
                              database_url_env=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert resumed.returncode == 0, resumed.stderr
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.summary() == plan.summary()
    assert run.records.count() == 12
    accounts, grants = ledger_state()
    assert {key: state[1] for key, state in accounts.items()} == MIGRATED
    assert grants == sorted((key, amount, None) for key, amount in MIGRATED.items() if amount)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_resume_of_a_run_whose_process_is_alive_is_refused(legacy_keys_tx, dual_phase):
    preview = runs.run_preview(operation="key-credits", params={}, execute=True)
    run = runs.run_create(preview=preview, actor=Actor.system("t"), dry_run=False, options={"batch_size": 3})
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, owner=f"{os.uname().nodename}:1")
    refused = migrate_process("--resume", str(run.pk))
    assert refused.returncode == 2 and "already running in process" in refused.stderr


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_starts_leave_one_active_run(legacy_keys_tx, dual_phase):
    previews = [runs.run_preview(operation="key-credits", params={}, execute=True) for _ in range(2)]
    outcomes, errors = run_in_threads(
        lambda i: runs.run_create(preview=previews[i], actor=Actor.system("t"), dry_run=False, options={}), 2
    )
    outcomes = [o for o in outcomes if o is not None] + errors
    created = [o for o in outcomes if isinstance(o, Run)]
    refused = [o for o in outcomes if isinstance(o, ActiveRunExists)]
    assert len(created) == 1 and len(refused) == 1
    assert f"#{created[0].pk}" in refused[0].message
    assert Run.objects.filter(dry_run=False).count() == 1


@pytest.mark.django_db
def test_a_failing_run_exits_non_zero_naming_the_run_and_the_reason(legacy_keys, dual_phase, monkeypatch):
    monkeypatch.setattr(KeyCreditsOperation, "batch_conserve", lambda self, **kw: ["invented imbalance"])
    with pytest.raises(CommandError, match=r"failed: batch 1 broke .*invented imbalance") as failed:
        command("key-credits", "--execute", "--yes")
    assert failed.value.returncode == 1
    run = Run.objects.get(dry_run=False)
    assert (run.status, run.scanned, run.records.count()) == (RunStatus.FAILED, 0, 0)
    assert not ledger_state()[0]


@pytest.mark.django_db
def test_max_rows_stops_early_and_resume_continues_with_new_options(legacy_keys, dual_phase):
    first = json.loads(command("key-credits", "--execute", "--yes", "--json", "--batch-size", "2", "--max-rows", "5"))
    assert (first["status"], first["scanned"], first["cursor"]) == ("paused", 5, "key_a05")
    resumed = json.loads(command("--resume", str(first["run_id"]), "--json", "--batch-size", "4"))
    run = Run.objects.get(pk=first["run_id"])
    assert (resumed["status"], resumed["scanned"], run.batches) == ("succeeded", 12, 3 + 2)
    assert run.options["batch_size"] == 4 and run.options["max_rows"] is None
