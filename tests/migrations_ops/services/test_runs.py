"""The runner: one active run, throttle, replica lag waits, lock-timeout retries, resume rules."""
import pytest
from django.db import OperationalError, connection

from ledger.actors import Actor
from migrations_ops.exceptions import ActiveRunExists, RunStateError
from migrations_ops.models import Run, RunStatus
from migrations_ops.services import runs

from ..conftest import operation_run

pytestmark = pytest.mark.django_db


def planned_run(**options):
    preview = runs.run_preview(operation="key-credits", params={}, execute=True)
    return runs.run_create(preview=preview, actor=Actor.system("t"), dry_run=False,
                           options=runs.options_clean(batch_size=5, **options))


def test_a_second_start_is_refused_naming_the_active_run(legacy_keys, dual_phase):
    first = planned_run()
    with pytest.raises(ActiveRunExists, match=f"active run: #{first.pk} \\(planned, started by system:t\\)"):
        planned_run()
    assert operation_run(dry_run=True).status == RunStatus.SUCCEEDED  # dry runs never block


def test_finished_runs_cannot_be_resumed(legacy_keys, dual_phase):
    run = operation_run()
    with pytest.raises(RunStateError, match="succeeded; there is nothing to resume"):
        runs.run_execute(run_id=run.pk, actor=Actor.system("t"))


def test_throttle_pauses_between_batches(legacy_keys, dual_phase, monkeypatch):
    slept = []
    monkeypatch.setattr(runs.time, "sleep", slept.append)
    run = planned_run(throttle_ms=250)
    runs.run_execute(run_id=run.pk, actor=Actor.system("t"))
    assert slept == [0.25, 0.25, 0.25]


def test_batches_wait_while_the_replica_lags_beyond_the_limit(legacy_keys, dual_phase, monkeypatch):
    lags, slept = iter([900.0, 600.0, 10.0] + [0.0] * 10), []
    monkeypatch.setattr(runs, "replica_lag_ms", lambda using: next(lags))
    monkeypatch.setattr(runs.time, "sleep", slept.append)
    run = planned_run(max_lag_ms=100)
    assert runs.run_execute(run_id=run.pk, actor=Actor.system("t")).status == RunStatus.SUCCEEDED
    assert slept == [0.5, 0.5]


def test_replica_lag_is_zero_on_a_primary():
    assert runs.replica_lag_ms(using="default") == 0.0


class LockNotAvailable(Exception):
    sqlstate = "55P03"


def test_a_batch_that_hits_the_lock_timeout_is_retried(legacy_keys, dual_phase, monkeypatch):
    real, calls = runs._batch, []

    def flaky(**kwargs):
        calls.append(kwargs["number"])
        if len(calls) == 1:
            raise OperationalError("canceling statement due to lock timeout") from LockNotAvailable()
        return real(**kwargs)

    monkeypatch.setattr(runs, "_batch", flaky)
    monkeypatch.setattr(runs.time, "sleep", lambda seconds: None)
    run = runs.run_execute(run_id=planned_run().pk, actor=Actor.system("t"))
    assert run.status == RunStatus.SUCCEEDED and calls[:2] == [1, 1] and run.scanned == 12


@pytest.mark.postgres
def test_batches_run_with_a_lock_timeout_on_postgresql(legacy_keys, dual_phase, monkeypatch):
    seen = []
    real = runs.operation_get

    def spy(name):
        op = real(name)
        apply = op.batch_apply

        def batch_apply(**kwargs):
            with connection.cursor() as cursor:
                cursor.execute("SHOW lock_timeout")
                seen.append(cursor.fetchone()[0])
            return apply(**kwargs)

        op.batch_apply = batch_apply
        return op

    monkeypatch.setattr(runs, "operation_get", spy)
    runs.run_execute(run_id=planned_run().pk, actor=Actor.system("t"))
    assert set(seen) == {"5s"}


def test_cancel_frees_the_operation_for_a_new_run(legacy_keys, dual_phase, actor):
    run = planned_run()
    runs.run_cancel(run_id=run.pk, actor=actor, reason="wrong window")
    assert Run.objects.get(pk=run.pk).status == RunStatus.FAILED
    assert planned_run().status == RunStatus.PLANNED


def test_the_database_refuses_a_second_active_run_of_an_operation():
    from django.db import IntegrityError, transaction

    Run.objects.create(operation="key-credits", actor="a", status=RunStatus.RUNNING)
    Run.objects.create(operation="key-credits", actor="a", status=RunStatus.PAUSED, dry_run=True)
    Run.objects.create(operation="key-credits", actor="a", status=RunStatus.SUCCEEDED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(operation="key-credits", actor="b", status=RunStatus.PAUSED)
