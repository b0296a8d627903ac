"""Reads about usage tasks: what was never charged, what fell short."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from ..exceptions import NotFound
from ..models import UsageStatus, UsageTask
from .accounts import account_get


def tasks_undeducted(
    *, workspace_id: int | None = None, completed_before: datetime | None = None
) -> QuerySet[UsageTask]:
    """Return succeeded tasks whose credits were never deducted, oldest first (the report
    "tasks without credit deduction"; uses the partial index ledger_usage_undeducted_idx)."""
    queryset = UsageTask.objects.filter(status=UsageStatus.SUCCEEDED, credits_deducted=False)
    if workspace_id is not None:
        queryset = queryset.filter(workspace_id=workspace_id)
    if completed_before is not None:
        # A task recorded as succeeded without a completion time (imported) is old enough.
        queryset = queryset.filter(Q(completed_at__lt=completed_before) | Q(completed_at__isnull=True))
    return queryset.order_by("created_at", "id")


def tasks_with_shortfall(*, workspace_id: int | None = None) -> QuerySet[UsageTask]:
    """Return charged tasks the balance could not fully cover, largest shortfall first."""
    queryset = UsageTask.objects.filter(credits_deducted=True, shortfall__gt=0)
    if workspace_id is not None:
        queryset = queryset.filter(workspace_id=workspace_id)
    return queryset.order_by("-shortfall", "id")


def task_get(*, task_id: int, account_id: int, workspace_id: int) -> UsageTask:
    """Return the account's task (one query); a task of another account or workspace is
    NotFound, exactly like a missing one."""
    task = UsageTask.objects.filter(pk=task_id, account_id=account_id, workspace_id=workspace_id).first()
    if task is None:
        raise NotFound(f"task {task_id!r} does not exist", field="task")
    return task


def tasks_list(*, account_id: int, workspace_id: int, statuses: list[str] | None = None) -> QuerySet[UsageTask]:
    """Return the account's tasks, newest first, optionally only those in ``statuses``.
    Checks the account exists in the workspace (one query); keyset-paginated by id."""
    account_get(account_id=account_id, workspace_id=workspace_id)
    tasks = UsageTask.objects.filter(account_id=account_id).order_by("-id")
    if statuses:
        tasks = tasks.filter(status__in=statuses)
    return tasks
