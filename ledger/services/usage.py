"""Post-payment usage: accept tasks after a soft check, hold an estimate, charge the actual
duration exactly once when a task succeeds, never charge a failed one."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from .. import clock
from ..actors import Actor
from ..amounts import credits_round
from ..exceptions import InsufficientCredits, InvalidInput, InvalidState, NotFound, TaskConflict
from ..models import CreditAccount, EntryType, UsageStatus, UsageTask, UsageTier
from ..selectors.policies import policy_get
from .debits import debit_apply, refund_apply
from .postings import Posting, account_lock, entry_append, lots_spendable

MAX_DURATION = Decimal("1e8")


@dataclass(frozen=True)
class UsageResult:
    task: UsageTask
    replayed: bool


def duration_parse(value: object, *, field: str = "duration_seconds") -> Decimal:
    """Return a duration as an exact Decimal of seconds (at most 3 decimals, 0 or more)."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput(field, "must be a number of seconds")
    try:
        exact = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(field, f"must be a number of seconds, got {value!r}") from None
    if not exact.is_finite() or exact < 0 or exact >= MAX_DURATION:
        raise InvalidInput(field, "must be a finite number of seconds, 0 or more")
    if exact != exact.quantize(Decimal("0.001")):
        raise InvalidInput(field, "must have at most 3 decimal places (milliseconds)")
    return exact.quantize(Decimal("0.001"))


def usage_price(*, workspace_id: int, tier: str, duration_seconds: Decimal) -> int:
    """Return the credits a duration costs in the workspace's policy (5.0 s standard = 50)."""
    policy = policy_get(workspace_id=workspace_id)
    per_second = policy.price_pro_per_second if tier == UsageTier.PRO else policy.price_standard_per_second
    return credits_round(duration_seconds * per_second)


def _task_locked(
    *, task_id: object, workspace_id: int | None, account_id: int | None = None
) -> tuple[CreditAccount, UsageTask]:
    """Lock the task's account, then the task (accounts first, as every service does). A
    task of another workspace (or, given ``account_id``, of another account) is NotFound."""
    queryset = UsageTask.objects.all()
    if workspace_id is not None:
        queryset = queryset.filter(workspace_id=workspace_id)
    if account_id is not None:
        queryset = queryset.filter(account_id=account_id)
    try:
        account_id = queryset.values_list("account_id", flat=True).get(pk=int(task_id))  # type: ignore[arg-type]
    except (UsageTask.DoesNotExist, TypeError, ValueError):
        raise NotFound(f"task {task_id!r} does not exist", field="task") from None
    account = account_lock(account_id=account_id)
    return account, UsageTask.objects.select_for_update().get(pk=int(task_id))  # type: ignore[arg-type]


def _hold_place(*, account: CreditAccount, task: UsageTask, amount: int, actor: Actor) -> None:
    posting = Posting(
        actor=actor, description=f"Hold for task #{task.pk}", source="usage_task",
        source_id=str(task.pk), idempotency_key=f"usage:{task.pk}:hold",
    )
    entry, _ = debit_apply(account=account, amount=amount, posting=posting, entry_type=EntryType.HOLD)
    task.hold_amount, task.hold_entry = amount, entry
    task.hold_expires_at = clock.now() + timedelta(minutes=settings.CREDITS_USAGE_HOLD_TIMEOUT_MINUTES)


def _hold_release(*, account: CreditAccount, task: UsageTask, actor: Actor, why: str) -> None:
    """Give a held amount back to the lots it came from (or against debt)."""
    if not task.hold_active:
        return
    refund_apply(account=account, debit=task.hold_entry, amount=task.hold_amount)
    posting = Posting(
        actor=actor, description=f"Release of the hold for task #{task.pk} ({why})", source="usage_task",
        source_id=str(task.pk), idempotency_key=f"usage:{task.pk}:release",
    )
    entry_append(account=account, entry_type=EntryType.RELEASE, amount=task.hold_amount, posting=posting)
    task.hold_released_at = clock.now()


@transaction.atomic(durable=True)
def task_create(
    *,
    account_id: int,
    tier: str,
    actor: Actor,
    external_id: str | None = None,
    customer_id: int | None = None,
    estimated_duration_seconds: object = None,
    workspace_id: int | None = None,
) -> UsageResult:
    """Accept a task after a soft balance check (nothing is charged); with an estimate, hold
    its price until the task completes, fails or the hold times out. Once per external id:
    the same id returns the first task, the same id with other parameters is a conflict."""
    if tier not in UsageTier.values:
        raise InvalidInput("tier", f"must be one of {', '.join(UsageTier.values)}")
    estimate = None
    if estimated_duration_seconds is not None:
        estimate = duration_parse(estimated_duration_seconds, field="estimated_duration_seconds")
    account = account_lock(account_id=account_id, workspace_id=workspace_id)
    if customer_id is not None and account.customer_id not in (None, int(customer_id)):
        raise InvalidInput("customer", "is not the owner of this account")
    if external_id:
        existing = UsageTask.objects.filter(workspace_id=account.workspace_id, external_id=external_id).first()
        if existing is not None:
            same = (existing.account_id, existing.tier, existing.estimated_duration_seconds) == (account.pk, tier, estimate)
            if not same:
                raise TaskConflict(
                    f"task {existing.pk} was already created with external id {external_id!r} and other "
                    "parameters (account, tier or estimate)", field="external_id", key=external_id,
                )
            return UsageResult(task=existing, replayed=True)
    minimum = settings.CREDITS_USAGE_MIN_BALANCE
    if account.balance < minimum:
        raise InsufficientCredits(account_id=account.pk, balance=account.balance, available=account.balance, amount=minimum)
    task = UsageTask.objects.create(
        workspace_id=account.workspace_id, account=account, customer_id=customer_id or account.customer_id,
        external_id=external_id or None, tier=tier, created_at=clock.now(), estimated_duration_seconds=estimate,
    )
    held = usage_price(workspace_id=account.workspace_id, tier=tier, duration_seconds=estimate) if estimate else 0
    if held:
        _hold_place(account=account, task=task, amount=held, actor=actor)
        task.save(update_fields=["hold_amount", "hold_entry", "hold_expires_at"])
    return UsageResult(task=task, replayed=False)


@transaction.atomic(durable=True)
def task_start(*, task_id: int, actor: Actor, workspace_id: int | None = None) -> UsageResult:
    """Mark a pending task running; a task already past pending is returned unchanged."""
    _, task = _task_locked(task_id=task_id, workspace_id=workspace_id)
    if task.status != UsageStatus.PENDING:
        return UsageResult(task=task, replayed=True)
    task.status = UsageStatus.RUNNING
    task.save(update_fields=["status"])
    return UsageResult(task=task, replayed=False)


def _charge(*, account: CreditAccount, task: UsageTask, actor: Actor) -> None:
    """Charge a succeeded task's price once: release its hold, draw lots (and debt as the
    overdraft policy allows) and record what could not be covered as the shortfall."""
    _hold_release(account=account, task=task, actor=actor, why="captured")
    price = task.credits_calculated or 0
    now = clock.now()
    in_lots = lots_spendable(account=account, at=now).aggregate(total=Sum("remaining"))["total"] or 0
    headroom = account.overdraft_limit - account.debt if settings.CREDITS_USAGE_OVERDRAFT == "debt" else 0
    charged = min(price, in_lots + max(headroom, 0))
    if charged:
        posting = Posting(
            actor=actor, description=f"Usage: task #{task.pk}, {task.output_duration_seconds} s {task.tier}",
            source="usage_task", source_id=str(task.pk), idempotency_key=f"usage:{task.pk}:charge",
        )
        task.charge_entry, _ = debit_apply(account=account, amount=charged, posting=posting)
    task.shortfall = price - charged
    task.credits_deducted = True
    task.save(update_fields=[
        "status", "completed_at", "output_duration_seconds", "credits_calculated", "credits_deducted",
        "shortfall", "charge_entry", "hold_released_at",
    ])


@transaction.atomic(durable=True)
def task_complete(
    *, task_id: int, duration_seconds: object, actor: Actor, workspace_id: int | None = None,
    account_id: int | None = None,
) -> UsageResult:
    """Record a task's success and charge its actual duration exactly once.

    A completion delivered again (or by two workers at once) returns the first result and
    charges nothing more; one with another duration is a TaskConflict; a failed task
    raises InvalidState and is never charged.
    """
    duration = duration_parse(duration_seconds)
    account, task = _task_locked(task_id=task_id, workspace_id=workspace_id, account_id=account_id)
    if task.status == UsageStatus.FAILED:
        raise InvalidState(f"task {task.pk} failed; a failed task is never charged", field="task")
    if task.status == UsageStatus.SUCCEEDED:
        if task.output_duration_seconds != duration:
            raise TaskConflict(
                f"task {task.pk} already completed with {task.output_duration_seconds} s; "
                f"a completion with {duration} s is refused", field="duration_seconds", key=f"usage:{task.pk}:complete",
            )
        if not task.credits_deducted:
            _charge(account=account, task=task, actor=actor)
            return UsageResult(task=task, replayed=False)
        return UsageResult(task=task, replayed=True)
    task.status = UsageStatus.SUCCEEDED
    task.completed_at = clock.now()
    task.output_duration_seconds = duration
    task.credits_calculated = usage_price(workspace_id=task.workspace_id, tier=task.tier, duration_seconds=duration)
    _charge(account=account, task=task, actor=actor)
    return UsageResult(task=task, replayed=False)


@transaction.atomic(durable=True)
def task_fail(
    *, task_id: int, actor: Actor, reason: str = "", workspace_id: int | None = None, account_id: int | None = None
) -> UsageResult:
    """Mark a task failed and release its hold; it is never charged. Failing it again is a
    no-op; failing a succeeded task raises InvalidState."""
    account, task = _task_locked(task_id=task_id, workspace_id=workspace_id, account_id=account_id)
    if task.status == UsageStatus.FAILED:
        return UsageResult(task=task, replayed=True)
    if task.status == UsageStatus.SUCCEEDED:
        raise InvalidState(f"task {task.pk} already succeeded", field="task")
    _hold_release(account=account, task=task, actor=actor, why="task failed")
    task.status, task.completed_at, task.failure_reason = UsageStatus.FAILED, clock.now(), reason
    task.save(update_fields=["status", "completed_at", "failure_reason", "hold_released_at"])
    return UsageResult(task=task, replayed=False)


@transaction.atomic(durable=True)
def task_charge(*, task_id: int, actor: Actor) -> UsageResult:
    """Charge a succeeded task that was never charged (a lost callback); others unchanged."""
    account, task = _task_locked(task_id=task_id, workspace_id=None)
    if task.status != UsageStatus.SUCCEEDED or task.credits_deducted:
        return UsageResult(task=task, replayed=True)
    if task.credits_calculated is None:
        task.credits_calculated = usage_price(
            workspace_id=task.workspace_id, tier=task.tier, duration_seconds=task.output_duration_seconds or Decimal(0)
        )
    _charge(account=account, task=task, actor=actor)
    return UsageResult(task=task, replayed=False)


@transaction.atomic(durable=True)
def hold_release(*, task_id: int, actor: Actor, why: str = "timed out", before_timeout: bool = False) -> UsageResult:
    """Release a task's hold if it is still held and past its timeout (with
    ``before_timeout``, at once: a staff decision); otherwise no-op."""
    account, task = _task_locked(task_id=task_id, workspace_id=None)
    if not task.hold_active or (task.hold_expires_at > clock.now() and not before_timeout):
        return UsageResult(task=task, replayed=True)
    _hold_release(account=account, task=task, actor=actor, why=why)
    task.save(update_fields=["hold_released_at"])
    return UsageResult(task=task, replayed=False)


def _ids_in_batches(queryset, *, order: tuple[str, str], batch_size: int):
    """Yield ids of a queryset in keyset batches on (order field, id); never OFFSET."""
    field = order[0]
    cursor: tuple | None = None
    while True:
        page = queryset
        if cursor is not None:
            page = page.filter(**{f"{field}__gt": cursor[0]}) | page.filter(**{field: cursor[0], "id__gt": cursor[1]})
        rows = list(page.order_by(*order).values_list(field, "id")[:batch_size])
        if not rows:
            return
        yield [pk for _, pk in rows]
        cursor = rows[-1]


def holds_release_expired(*, actor: Actor, now: datetime | None = None, batch_size: int = 500) -> int:
    """Release every hold past its timeout, each in its own transaction; return how many.
    Safe to run in several workers at once (each release locks its account and task)."""
    due = UsageTask.objects.filter(hold_amount__gt=0, hold_released_at__isnull=True, hold_expires_at__lte=now or clock.now())
    released = 0
    for ids in _ids_in_batches(due, order=("hold_expires_at", "id"), batch_size=batch_size):
        released += sum(not hold_release(task_id=pk, actor=actor).replayed for pk in ids)
    return released


def tasks_charge_uncharged(*, actor: Actor, older_than: timedelta = timedelta(minutes=1), batch_size: int = 500) -> int:
    """Charge every succeeded, never-charged task completed before ``older_than`` ago
    (lost callbacks), oldest first; return how many were charged. Idempotent."""
    from ..selectors.usage import tasks_undeducted

    before = clock.now() - older_than
    charged = 0
    for ids in _ids_in_batches(tasks_undeducted(completed_before=before), order=("created_at", "id"), batch_size=batch_size):
        charged += sum(not task_charge(task_id=pk, actor=actor).replayed for pk in ids)
    return charged
