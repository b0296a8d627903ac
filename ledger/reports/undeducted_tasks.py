"""Usage tasks that were not charged in full: succeeded but never charged (oldest first),
and charged short because the balance could not cover them (largest shortfall first)."""
from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Sum

from .. import clock
from ..selectors.usage import tasks_undeducted, tasks_with_shortfall
from . import report_register
from .base import Report, ReportOutput

#: An uncharged task older than this was missed by the sweep (every 5 minutes, charging tasks
#: completed over a minute ago): a finding. A younger one may still be charged by it.
STALE_AFTER = timedelta(minutes=15)
UNDEDUCTED, SHORT = "undeducted", "short"
_FIELDS = ("id", "external_id", "workspace__slug", "account_id", "created_at", "completed_at",
           "output_duration_seconds", "credits_calculated", "shortfall")


@report_register
class UndeductedTasksReport(Report):
    name = "undeducted-tasks"
    title = "Usage tasks not charged in full"
    columns = ["section", "task", "external_id", "workspace", "account", "created_at", "completed_at",
               "duration_s", "credits", "shortfall"]
    description = (
        "Succeeded usage tasks never charged (oldest first), then tasks charged short (largest "
        "shortfall first). Findings: uncharged tasks older than 15 minutes, which the sweep missed."
    )
    fails_on_findings = True
    health = "live"

    def run(self, *, workspace_id: int | None = None, limit: int | None = None) -> ReportOutput:
        """List both sections; ``limit`` caps the rows of each."""
        now = clock.now()
        undeducted = tasks_undeducted(workspace_id=workspace_id)
        stale = tasks_undeducted(workspace_id=workspace_id, completed_before=now - STALE_AFTER).count()
        short = tasks_with_shortfall(workspace_id=workspace_id)
        short_totals = short.aggregate(tasks=Count("id"), credits=Sum("shortfall"))
        rows = [[UNDEDUCTED, *row] for row in _rows(undeducted, limit)]
        rows += [[SHORT, *row] for row in _rows(short, limit)]
        for row in rows:
            if row[0] == UNDEDUCTED:
                row[-1] = None  # never charged: no shortfall was measured
        return self.output(
            rows=rows, findings=stale, generated_at=now,
            params={"workspace": workspace_id, "limit": limit},
            summary={
                "never charged": undeducted.count(),
                "never charged, older than 15 min": stale,
                "charged short": short_totals["tasks"],
                "shortfall credits": short_totals["credits"] or 0,
            },
            notes=[
                f"{UNDEDUCTED}: succeeded, credits_deducted false; the usage sweep charges them. Those "
                "completed over 15 minutes ago (or with no completion time) are findings.",
                f"{SHORT}: charged, but the balance (and overdraft) covered less than the price; the "
                "shortfall was never collected. Listed, not a finding: the overdraft policy allows it.",
            ],
        )


def _rows(queryset, limit: int | None) -> list[list]:
    values = queryset.values_list(*_FIELDS)
    return [list(row) for row in (values[:limit] if limit is not None else values)]
