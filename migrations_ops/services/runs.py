"""Runs: start, execute in keyset batches, pause, resume, cancel and verify (rollback: rollbacks.py).

Guarantees:

- at most one planned/running/paused real run per operation (a partial unique index);
- each batch is one transaction on the primary that writes the operation's changes, the
  per-row records, the counters and the cursor, after the operation's conservation check
  passed; so a process killed at any point resumes from the last committed batch and
  ends exactly as an uninterrupted run;
- a dry run executes the same batches and rolls each one back, then stores the outcomes
  (records and counters) it would have committed;
- every start, pause, resume and rollback writes a ``ledger.AuditEvent``.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, OperationalError, connections, transaction

from ledger import clock
from ledger.actors import Actor
from ledger.models import AuditEvent
from ledger.services.bulk import values_insert

from ..exceptions import (
    ActiveRunExists,
    CheckFailed,
    ConservationBroken,
    InvalidParams,
    RunStateError,
    StalePlan,
)
from ..models import ACTIVE_STATUSES, RecordAction, Run, RunRecord, RunStatus
from ..operations.base import CheckResult, Context, RecordedRows, RowOutcome
from ..operations.registry import operation_get
from .planner import plans_discard, statistics_refresh

#: Test-only: "inside:N" or "between:N" makes the runner SIGKILL itself in batch N.
KILL_HOOK_ENV = "MIGRATIONS_OPS_KILL_AT"
LOCK_TIMEOUT_MS = 5_000
LOCK_RETRIES = 3
DEFAULT_BATCH_SIZE = 500
#: Runner options stored on a run (``Run.options``).
RUN_OPTIONS = ("batch_size", "throttle_ms", "max_rows", "max_lag_ms")
Progress = Callable[[Run], None]


def fingerprint_hash(data: dict) -> str:
    """Return a stable hash of an operation's fingerprint data."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _audit(*, action: str, run: Run, actor: Actor, reason: str = "", details: dict | None = None) -> None:
    AuditEvent.objects.create(
        action=action, actor=actor.label, actor_user_id=actor.user_id, object_type="migration_run",
        object_id=str(run.pk), reason=reason, details={"operation": run.operation, **(details or {})},
    )


def _active_refusal(operation: str) -> ActiveRunExists:
    active = Run.objects.filter(operation=operation, dry_run=False, status__in=ACTIVE_STATUSES).first()
    if active is None:
        return ActiveRunExists(f"operation {operation} already has an active run")
    return ActiveRunExists(
        f"operation {operation} already has an active run: #{active.pk} ({active.status}, started by "
        f"{active.actor}); resume, pause or roll it back first"
    )


def options_clean(*, batch_size: object = DEFAULT_BATCH_SIZE, throttle_ms: object = 0,
                  max_rows: object = None, max_lag_ms: object = None) -> dict:
    """Return validated runner options; a bad one raises InvalidParams naming it."""
    def whole(name, value, minimum):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidParams(f"--{name.replace('_', '-')} must be a whole number >= {minimum}, got {value!r}")
        return value
    options = {"batch_size": whole("batch_size", batch_size, 1), "throttle_ms": whole("throttle_ms", throttle_ms, 0)}
    options["max_rows"] = None if max_rows is None else whole("max_rows", max_rows, 1)
    options["max_lag_ms"] = None if max_lag_ms is None else whole("max_lag_ms", max_lag_ms, 0)
    return options


def run_options_update(*, run_id: int, options: dict) -> None:
    """Change the runner options of a run that is not running (e.g. a smaller batch on
    resume); ``options`` must come from options_clean."""
    if not options:
        return
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        run.options = {**run.options, **options}
        run.save(update_fields=["options"])


@dataclass(frozen=True)
class Preview:
    """What a start would do, before anything is written: the check and the fingerprint."""

    operation: str
    params: dict
    check: CheckResult
    fingerprint: str
    fingerprint_data: dict
    total: int


def run_preview(*, operation: str, params: dict, execute: bool, force: bool = False,
                read_alias: str = "default") -> Preview:
    """Check an operation's preconditions and fingerprint its data; writes nothing.

    Raises UnknownOperation, InvalidParams, or CheckFailed with the blocking problems.
    """
    op = operation_get(operation)
    params = op.params_clean(params)
    if params.get("workspace") and not op.workspace_known(slug=params["workspace"], using=read_alias):
        raise InvalidParams(f"--workspace {params['workspace']!r}: {op.name} knows no such workspace; "
                            f"nothing was written")
    check = op.check(params=params, execute=execute, force=force)
    blocking = check.blocking(force=force)
    if blocking:
        raise CheckFailed(blocking)
    data = op.fingerprint(params=params, using=read_alias)
    return Preview(operation=operation, params=params, check=check, fingerprint=fingerprint_hash(data),
                   fingerprint_data=data, total=op.count(params=params, using=read_alias))


def run_create(*, preview: Preview, actor: Actor, dry_run: bool, options: dict, force: bool = False,
               plan_id: int | None = None, status: str = RunStatus.PLANNED) -> Run:
    """Record a new run from a preview; refuses a second active run of the operation
    (ActiveRunExists naming it) and, with ``plan_id``, a plan whose data changed since."""
    plan = None
    if plan_id is not None:
        plan = Run.objects.filter(pk=plan_id, operation=preview.operation, dry_run=True).first()
        if plan is None or plan.status != RunStatus.SUCCEEDED:
            raise RunStateError(f"run #{plan_id} is not a finished dry run of {preview.operation}")
        if plan.fingerprint != preview.fingerprint or plan.params != preview.params:
            raise StalePlan(
                f"the data changed since dry run #{plan.pk} was planned (then {plan.fingerprint_data}, now "
                f"{preview.fingerprint_data}); run a new dry run"
            )
    forced = force and bool(preview.check.forceable)
    if not dry_run and Run.objects.filter(operation=preview.operation, dry_run=False, status__in=ACTIVE_STATUSES).exists():
        # The partial unique index is what holds under concurrency; this check gives MySQL
        # (no partial indexes) the same rule outside races.
        raise _active_refusal(preview.operation)
    try:
        with transaction.atomic():
            run = Run.objects.create(
                operation=preview.operation, params=preview.params, options=options, actor=actor.label,
                started_by_id=actor.user_id, dry_run=dry_run, forced=forced, plan=plan, status=status,
                total=preview.total, fingerprint=preview.fingerprint, fingerprint_data=preview.fingerprint_data,
                check_notes=preview.check.notes,
            )
            if not dry_run:
                _audit(action="migration.run_create", run=run, actor=actor,
                       details={"params": preview.params, "forced": forced, "forced_past": preview.check.forceable if forced else []})
    except IntegrityError:
        raise _active_refusal(preview.operation) from None
    return run


def _owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: trust its claim; pause or fail it explicitly
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_claim(*, run_id: int, actor: Actor) -> Run:
    """Mark a planned, paused, failed or interrupted run as running in this process."""
    try:
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=run_id).first()
            if run is None:
                raise RunStateError(f"run #{run_id} does not exist")
            if run.status == RunStatus.RUNNING and run.owner and _owner_alive(run.owner):
                raise RunStateError(f"run #{run.pk} is already running in process {run.owner}")
            if run.status in (RunStatus.SUCCEEDED, RunStatus.ROLLED_BACK):
                raise RunStateError(f"run #{run.pk} is {run.status}; there is nothing to resume")
            if run.status == RunStatus.ROLLING_BACK:
                raise RunStateError(f"run #{run.pk} is being rolled back; roll it back again to finish, not resume")
            resumed = run.started_at is not None
            run.status, run.owner, run.error, run.finished_at = RunStatus.RUNNING, _owner_label(), "", None
            run.started_at = run.started_at or clock.now()
            run.heartbeat_at = clock.now()
            run.save(update_fields=["status", "owner", "error", "finished_at", "started_at", "heartbeat_at"])
            if resumed and not run.dry_run:
                _audit(action="migration.run_resume", run=run, actor=actor, details={"cursor": run.cursor})
    except IntegrityError:
        raise _active_refusal(Run.objects.get(pk=run_id).operation) from None
    return run


def replica_lag_ms(*, using: str) -> float:
    """Return the replay lag of a PostgreSQL replica in ms (0 on a primary or other DBs)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN pg_is_in_recovery() THEN COALESCE(EXTRACT(EPOCH FROM "
            "(now() - pg_last_xact_replay_timestamp())) * 1000, 0) ELSE 0 END"
        )
        return float(cursor.fetchone()[0])


def _kill_hook(point: str, batch: int) -> None:
    wanted = os.environ.get(KILL_HOOK_ENV, "")
    if wanted == f"{point}:{batch}":
        os.kill(os.getpid(), signal.SIGKILL)


def _count(run: Run, outcomes: list[RowOutcome | RecordedRows]) -> None:
    for outcome in outcomes:
        count = outcome.count if isinstance(outcome, RecordedRows) else 1
        field = {RecordAction.CHANGED: "changed", RecordAction.SKIPPED: "skipped"}.get(outcome.action, "failed")
        setattr(run, field, getattr(run, field) + count)
        for name, value in outcome.totals.items():
            run.totals[name] = run.totals.get(name, 0) + value
        run.scanned += count
    run.batches += 1


_PROGRESS_FIELDS = ("scanned", "changed", "skipped", "failed", "totals", "batches", "cursor", "heartbeat_at")


def _save_progress(run: Run, outcomes: list[RowOutcome | RecordedRows]) -> None:
    values_insert(RunRecord, [
        {"run_id": run.pk, "row_key": str(o.key), "action": o.action, "old": o.old, "new": o.new, "message": o.message}
        for o in outcomes if isinstance(o, RowOutcome)
    ])
    run.heartbeat_at = clock.now()
    Run.objects.filter(pk=run.pk).update(**{name: getattr(run, name) for name in _PROGRESS_FIELDS})


def _batch(*, run: Run, op, ctx: Context, rows: list, number: int) -> None:
    """Apply one batch in one transaction (rolled back for a dry run)."""
    before = {name: getattr(run, name) for name in ("scanned", "changed", "skipped", "failed", "batches", "cursor")}
    before["totals"] = dict(run.totals)
    try:
        with transaction.atomic():
            if connections["default"].vendor == "postgresql":
                with connections["default"].cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
                plans_discard()
            outcomes = op.batch_apply(rows=rows, ctx=ctx)
            problems = op.batch_conserve(rows=rows, outcomes=outcomes, ctx=ctx)
            if problems:
                raise ConservationBroken(f"batch {number} broke '{op.conserves}': " + "; ".join(problems))
            _count(run, outcomes)
            run.cursor = op.row_cursor(rows[-1])
            if not run.dry_run:
                _save_progress(run, outcomes)
            _kill_hook("inside", number)
            if run.dry_run:
                transaction.set_rollback(True)
    except BaseException:
        for name, value in before.items():
            setattr(run, name, value)
        raise
    if run.dry_run:
        with transaction.atomic():
            _save_progress(run, outcomes)


def _batch_with_retry(**kwargs) -> None:
    for attempt in range(1, LOCK_RETRIES + 1):
        try:
            return _batch(**kwargs)
        except OperationalError as error:
            # lock_not_available (55P03), deadlock (40P01), serialization (40001): retry.
            code = getattr(getattr(error, "__cause__", None), "sqlstate", None)
            if code not in ("55P03", "40P01", "40001") or attempt == LOCK_RETRIES:
                raise
            time.sleep(0.2 * attempt)


def _finish(run: Run, status: str, error: str = "") -> None:
    run.status, run.error, run.finished_at = status, error, clock.now()
    Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, error=error, finished_at=run.finished_at, heartbeat_at=run.finished_at
    )


def _should_stop(run: Run) -> bool:
    current = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    return current != RunStatus.RUNNING


def _wait_for_replica(*, run: Run, read_alias: str, max_lag_ms: int | None) -> bool:
    """Wait while the replica lags more than allowed; False if the run was paused meanwhile."""
    if max_lag_ms is None:
        return True
    while replica_lag_ms(using=read_alias) > max_lag_ms:
        if _should_stop(run):
            return False
        Run.objects.filter(pk=run.pk).update(heartbeat_at=clock.now())
        time.sleep(0.5)
    return True


def run_execute(*, run_id: int, actor: Actor, read_alias: str = "default", progress: Progress | None = None) -> Run:
    """Run (or resume) a run to the end, a pause, or ``max_rows``; return it.

    Rows are read from ``read_alias`` in keyset pages after the saved cursor and written
    to the primary. A failing batch marks the run failed (its error saved) and re-raises.
    """
    run = run_claim(run_id=run_id, actor=actor)
    op = operation_get(run.operation)
    options = {"batch_size": DEFAULT_BATCH_SIZE, "throttle_ms": 0, "max_rows": None, "max_lag_ms": None} | run.options
    ctx = Context(run=run, params=run.params, actor=actor, dry_run=run.dry_run, read_alias=read_alias)
    done_here, number = 0, 0
    try:
        while True:
            if options["max_rows"] is not None and done_here >= options["max_rows"]:
                Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(status=RunStatus.PAUSED)
                run.status = RunStatus.PAUSED
                break
            if _should_stop(run) or not _wait_for_replica(run=run, read_alias=read_alias, max_lag_ms=options["max_lag_ms"]):
                run.refresh_from_db(fields=["status"])
                break
            limit = options["batch_size"] if options["max_rows"] is None else min(options["batch_size"], options["max_rows"] - done_here)
            rows = op.batch_read(params=run.params, after=run.cursor, limit=limit, using=read_alias)
            if not rows:
                _finish(run, RunStatus.SUCCEEDED)
                break
            number += 1
            _batch_with_retry(run=run, op=op, ctx=ctx, rows=rows, number=number)
            done_here += len(rows)
            # The records are only appended while the run goes on (each batch's unique
            # index check is no query): analyzing them would be time for nothing.
            statistics_refresh(skip=(RunRecord._meta.db_table,))
            if progress is not None:
                progress(run)
            _kill_hook("between", number)
            if options["throttle_ms"]:
                time.sleep(options["throttle_ms"] / 1000)
    except Exception as error:
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        _finish(run, RunStatus.FAILED, message)
        raise
    return run


def run_pause(*, run_id: int, actor: Actor, reason: str = "") -> Run:
    """Ask a running (or planned) run to stop after its current batch; resumable."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in (RunStatus.RUNNING, RunStatus.PLANNED):
            raise RunStateError(f"run #{run_id} is not running or planned")
        run.status = RunStatus.PAUSED
        run.save(update_fields=["status"])
        _audit(action="migration.run_pause", run=run, actor=actor, reason=reason)
    return run


def run_verify(*, run_id: int, actor: Actor) -> list[str]:
    """Check the operation's post-conditions for a run, or for a rolled-back run that
    everything it changed is undone; return the problems (empty: ok)."""
    run = _run_get(run_id)
    op = operation_get(run.operation)
    if run.status in (RunStatus.ROLLED_BACK, RunStatus.ROLLING_BACK):
        left = run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=True).count()
        problems = [f"{left} changed rows are not rolled back yet"] if left else []
        if run.status == RunStatus.ROLLING_BACK:
            problems.append(f"run #{run.pk} is still rolling back; roll it back again to finish")
        problems += op.verify_rollback(run=run)
    else:
        problems = op.verify(run=run)
    _audit(action="migration.run_verify", run=run, actor=actor, details={"problems": problems[:50], "ok": not problems})
    return problems


def _run_get(run_id: object) -> Run:
    run = Run.objects.filter(pk=run_id).first() if str(run_id).isdigit() else None
    if run is None:
        raise RunStateError(f"run #{run_id} does not exist")
    return run


def run_cancel(*, run_id: int, actor: Actor, reason: str) -> Run:
    """Mark a planned or paused run failed so the operation is free again (records stay)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in (RunStatus.PLANNED, RunStatus.PAUSED):
            raise RunStateError(f"run #{run_id} is not planned or paused")
        run.status, run.error, run.finished_at = RunStatus.FAILED, f"cancelled: {reason}", clock.now()
        run.save(update_fields=["status", "error", "finished_at"])
        _audit(action="migration.run_cancel", run=run, actor=actor, reason=reason)
    return run


def operations_status() -> list[dict]:
    """Return per operation: rows migrated, pending and failed (latest real run)."""
    from ..operations.registry import operations_all
    from ..selectors import runs_failed_rows

    rows = []
    for op in operations_all():
        try:
            with transaction.atomic():  # a savepoint: on PostgreSQL a failed query aborts the caller's transaction
                counts = op.status(params={})
        except DatabaseError as error:  # a missing legacy table must not break the page
            counts = {"migrated": None, "pending": None, "error": str(error).splitlines()[0]}
        rows.append({"operation": op.name, "description": op.description, "failed": runs_failed_rows(operation=op.name), **counts})
    return rows

