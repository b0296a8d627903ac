"""Reads about usage tasks: what was never charged, what fell short."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from ..models import UsageStatus, UsageTask


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
