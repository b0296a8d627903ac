"""A rollback's own lifecycle: rolling back while it works, interrupted and finished by the
next rollback, one rollback at a time, verify of the rolled-back state, and what the
command, the status report and the admin show meanwhile."""
import io
import json
import os
import socket

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ledger.actors import Actor
from ledger.models import AuditEvent
from ledger.reports import report_get
from migrations_ops.exceptions import RunStateError
from migrations_ops.models import RecordAction, Run, RunStatus
from migrations_ops.operations.key_credits import KeyCreditsOperation
from migrations_ops.services import rollbacks, runs

from ..conftest import operation_run
from ..operations.test_key_credits import ledger_state
from ..test_admin import staff

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


@pytest.fixture
def migrated(legacy_keys, dual_phase):
    return operation_run(batch_size=2)


@pytest.fixture
def interrupted(migrated, monkeypatch):
    """A rollback that died after its first batch (batch size 2 over 5 migrated keys)."""
    original, calls = KeyCreditsOperation.rollback_batch, []

    def dies_on_the_second_batch(self, *, records, ctx):
        calls.append(len(records))
        if len(calls) == 2:
            raise ConnectionError("database went away")
        return original(self, records=records, ctx=ctx)

    monkeypatch.setattr(KeyCreditsOperation, "rollback_batch", dies_on_the_second_batch)
    with pytest.raises(ConnectionError):
        rollbacks.run_rollback(run_id=migrated.pk, actor=ACTOR, reason="undo")
    monkeypatch.setattr(KeyCreditsOperation, "rollback_batch", original)
    migrated.refresh_from_db()
    return migrated


def test_an_interrupted_rollback_shows_rolling_back_everywhere(interrupted, client):
    run = interrupted
    assert run.status == RunStatus.ROLLING_BACK and run.owner == "" and "database went away" in run.error
    assert run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=False).count() == 2
    status = {row[0]: row for row in report_get("migration-status").run().rows}["key-credits"]
    assert (status[5], status[10]) == ("rolling_back", "rollback interrupted")
    client.force_login(staff("view_run", "rollback_migrations"))
    page = client.get(reverse("admin:migrations_ops_run_change", args=[run.pk])).content.decode()
    assert "rolling_back" in page and "Finish the rollback" in page and 'data-live="1"' in page
    problems = runs.run_verify(run_id=run.pk, actor=ACTOR)
    assert problems == ["3 changed rows are not rolled back yet", f"run #{run.pk} is still rolling back; "
                        "roll it back again to finish"]


def test_the_next_rollback_finishes_it_and_verify_checks_the_rolled_back_state(interrupted):
    with pytest.raises(RunStateError, match="being rolled back; roll it back again"):
        runs.run_claim(run_id=interrupted.pk, actor=ACTOR)
    results = rollbacks.run_rollback(run_id=interrupted.pk, actor=ACTOR, reason="finish")
    interrupted.refresh_from_db()
    assert (interrupted.status, results["reverted"], interrupted.error) == (RunStatus.ROLLED_BACK, 3, "")
    assert all(balance == 0 for _, balance, *rest in ledger_state()[0].values())
    assert runs.run_verify(run_id=interrupted.pk, actor=ACTOR) == []
    actions = list(AuditEvent.objects.filter(object_id=str(interrupted.pk)).values_list("action", flat=True))
    assert {"migration.rollback_start", "migration.rollback_resume", "migration.rollback"} <= set(actions)
    # Verify after a rollback checks the rolled-back state: an unreverted record is a problem.
    interrupted.records.filter(action=RecordAction.CHANGED).update(reverted_at=None)
    assert runs.run_verify(run_id=interrupted.pk, actor=ACTOR)[0] == "5 changed rows are not rolled back yet"


def test_a_second_concurrent_rollback_is_refused(migrated):
    # Another live process (pid 1 here) holds the rollback.
    Run.objects.filter(pk=migrated.pk).update(status=RunStatus.ROLLING_BACK, owner=f"{socket.gethostname()}:1")
    with pytest.raises(RunStateError, match="already being rolled back by process"):
        rollbacks.run_rollback(run_id=migrated.pk, actor=ACTOR, reason="again")
    with pytest.raises(CommandError, match="already being rolled back") as refused:
        call_command("migrate_credits", "--rollback", str(migrated.pk), "--yes", stdout=io.StringIO())
    assert refused.value.returncode == 2
    assert not migrated.records.filter(reverted_at__isnull=False).exists()
    # Its process gone, the rollback is taken over and finished.
    Run.objects.filter(pk=migrated.pk).update(owner=f"{socket.gethostname()}:{os.getpid()}")
    out = io.StringIO()
    call_command("migrate_credits", "--rollback", str(migrated.pk), "--yes", "--json", stdout=out)
    assert json.loads(out.getvalue())["status"] == RunStatus.ROLLED_BACK


def test_a_rolling_back_run_holds_its_operation(interrupted):
    # (The rollback moved the phase back to legacy: force past that check.)
    preview = runs.run_preview(operation="key-credits", params={}, execute=True, force=True)
    with pytest.raises(Exception, match="already has an active run"):
        runs.run_create(preview=preview, actor=ACTOR, dry_run=False, options={"batch_size": 2})


def test_an_older_run_cannot_roll_back_while_another_holds_the_operation(migrated):
    preview = runs.run_preview(operation="key-credits", params={}, execute=True)
    newer = runs.run_create(preview=preview, actor=ACTOR, dry_run=False, options={"batch_size": 2})
    with pytest.raises(RunStateError, match=f"while .*#{newer.pk}.* holds key-credits"):
        rollbacks.run_rollback(run_id=migrated.pk, actor=ACTOR, reason="undo")
    migrated.refresh_from_db()
    assert migrated.status == RunStatus.SUCCEEDED
