"""Rolling a run back from its records: the plan (what would be undone, what blocks it)
and the rollback itself, record by record, each step idempotent."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from ledger import clock
from ledger.actors import Actor
from ledger.services.rows import ids_in

from ..exceptions import InvalidParams, RollbackRefused, RunStateError
from ..models import ACTIVE_STATUSES, RecordAction, Run, RunRecord, RunStatus
from ..operations.base import Context
from ..operations.registry import operation_get
from .runs import DEFAULT_BATCH_SIZE, Progress, _audit, _owner_alive, _owner_label, _run_get


@dataclass(frozen=True)
class RollbackPlan:
    run: Run
    records: int
    blockers: list[str]


def run_rollback_plan(*, run_id: object, settle: str | None = None) -> RollbackPlan:
    """Return what rolling back a run would undo and which rows block it; writes nothing."""
    run = _run_get(run_id)
    op = operation_get(run.operation)
    if run.dry_run:
        raise RunStateError(f"run #{run.pk} is a dry run; it changed nothing")
    if run.status == RunStatus.ROLLED_BACK:
        raise RunStateError(f"run #{run.pk} is already rolled back")
    if run.status == RunStatus.RUNNING and run.owner and _owner_alive(run.owner):
        raise RunStateError(f"run #{run.pk} is running in process {run.owner}; pause it first")
    _refuse_concurrent(run)
    if settle is not None and settle not in op.settle_modes:
        modes = ", ".join(op.settle_modes) or "none"
        raise InvalidParams(f"--settle {settle!r} is not a settle mode of {op.name} (modes: {modes})")
    records = run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=True).count()
    return RollbackPlan(run=run, records=records, blockers=op.rollback_blockers(run=run, settle=settle))


def _refuse_concurrent(run: Run) -> None:
    if run.status == RunStatus.ROLLING_BACK and run.owner and _owner_alive(run.owner):
        raise RunStateError(f"run #{run.pk} is already being rolled back by process {run.owner}")


def _rollback_claim(*, run: Run, actor: Actor, reason: str, settle: str | None, records: int) -> Run:
    """Mark the run rolling back in this process (audited), or take over a rollback whose
    process died; a rollback still alive elsewhere is refused."""
    try:
        with transaction.atomic():
            run = Run.objects.select_for_update().get(pk=run.pk)
            _refuse_concurrent(run)
            if run.status == RunStatus.ROLLED_BACK:
                raise RunStateError(f"run #{run.pk} is already rolled back")
            resumed = run.status == RunStatus.ROLLING_BACK
            run.status, run.owner, run.heartbeat_at = RunStatus.ROLLING_BACK, _owner_label(), clock.now()
            run.save(update_fields=["status", "owner", "heartbeat_at"])
            _audit(action="migration.rollback_resume" if resumed else "migration.rollback_start", run=run,
                   actor=actor, reason=reason, details={"settle": settle, "records": records})
    except IntegrityError:
        active = Run.objects.filter(operation=run.operation, dry_run=False, status__in=ACTIVE_STATUSES).first()
        raise RunStateError(f"run #{run.pk} cannot roll back while {active or 'another run'} holds "
                            f"{run.operation}; finish or cancel it first") from None
    return run


def settle_hint(op) -> str:
    """Say how a refused rollback can go on: the operation's own settle modes, or none."""
    if not op.settle_modes:
        return f"{op.name} cannot settle spent credits; leave the run"
    return "settle them with " + " or ".join(f"--settle {mode}" for mode in op.settle_modes) + ", or leave the run"


def run_rollback(*, run_id: object, actor: Actor, reason: str, settle: str | None = None,
                 progress: Progress | None = None) -> dict:
    """Undo a run from its records, a batch of records at a time (the run's batch size; each
    batch idempotent, so an interrupted rollback can be repeated); refuses, listing them, when rows would lose credits spent
    since, unless ``settle`` names how to settle them."""
    if not reason.strip():
        raise InvalidParams("a reason is required to roll back a run")
    plan = run_rollback_plan(run_id=run_id, settle=settle)
    run = plan.run
    op = operation_get(run.operation)
    if plan.blockers:
        raise RollbackRefused(
            f"run #{run.pk}: {len(plan.blockers)} rows had migrated credits spent since; "
            f"{settle_hint(op)}: " + "; ".join(plan.blockers[:20]), plan.blockers
        )
    run = _rollback_claim(run=run, actor=actor, reason=reason, settle=settle, records=plan.records)
    ctx = Context(run=run, params=run.params, actor=actor, settle=settle)
    results: dict[str, int] = {"reverted": 0}
    pending = run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=True).order_by("pk")
    size, after = run.options.get("batch_size") or DEFAULT_BATCH_SIZE, 0
    try:
        while batch := list(pending.filter(pk__gt=after)[:size]):
            for name, value in op.rollback_batch(records=batch, ctx=ctx).items():
                results[name] = results.get(name, 0) + value
            RunRecord.objects.filter(pk__in=ids_in([record.pk for record in batch])).update(reverted_at=clock.now())
            Run.objects.filter(pk=run.pk).update(heartbeat_at=clock.now())
            results["reverted"] += len(batch)
            after = batch[-1].pk
            if progress is not None:
                progress(run)
    except BaseException as error:
        # Still rolling back, but let go: the next rollback, from any process, finishes it.
        Run.objects.filter(pk=run.pk, owner=run.owner).update(owner="", error=f"rollback interrupted: {error!r}")
        raise
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(status=RunStatus.ROLLED_BACK, finished_at=clock.now(), owner="", error="")
        _audit(action="migration.rollback", run=run, actor=actor, reason=reason, details={"settle": settle, **results})
    run.refresh_from_db()
    return results
