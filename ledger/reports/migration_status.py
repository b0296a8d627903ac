"""Per migration operation (every one in the migrations_ops registry): rows migrated,
pending and failed, and its last run; a failing or stuck last run is a finding."""
from __future__ import annotations

from datetime import datetime, timedelta

from .. import clock
from . import report_register
from .base import Report, ReportOutput

#: A running run whose heartbeat (saved after every batch) is older than this is stuck.
STUCK_AFTER = timedelta(minutes=15)


def run_problem(run, *, now: datetime) -> str:
    """Return why a run needs a person ("failed", "stuck", "rollback interrupted": roll it
    back again to finish) or "" when it does not."""
    from migrations_ops.models import RunStatus

    if run is None:
        return ""
    if run.status == RunStatus.FAILED:
        return "failed"
    beat = run.heartbeat_at or run.started_at or run.created_at
    if run.status == RunStatus.RUNNING and beat < now - STUCK_AFTER:
        return "stuck"
    if run.status == RunStatus.ROLLING_BACK and (not run.owner or beat < now - STUCK_AFTER):
        return "rollback interrupted"
    return ""


@report_register
class MigrationStatusReport(Report):
    name = "migration-status"
    title = "Migration operations"
    columns = ["operation", "migrated", "pending", "failed", "last_run", "status", "started_by",
               "started_at", "finished_at", "heartbeat_at", "problem", "detail"]
    description = (
        "Per migration operation: rows migrated, pending, failed, and its last run. "
        "Findings: the last run failed, is running without a heartbeat for 15 minutes, or its "
        "rollback was interrupted."
    )
    fails_on_findings = True
    health = "live"

    def run(self, *, workspace_id: int | None = None, limit: int | None = None) -> ReportOutput:
        """Every registered operation, with the counts of migrations_ops' status service."""
        from migrations_ops.services.runs import operations_status

        return self._build(statuses=operations_status(), limit=limit)

    def health_run(self, *, limit: int) -> ReportOutput:
        """The runs only: counting pending rows reads the legacy tables, too slow per view."""
        from migrations_ops.operations.registry import operations_all

        statuses = [{"operation": op.name, "migrated": None, "pending": None, "failed": None}
                    for op in operations_all()]
        return self._build(statuses=statuses, limit=limit, counted=False)

    def _build(self, *, statuses: list[dict], limit: int | None, counted: bool = True) -> ReportOutput:
        from migrations_ops.selectors import runs_latest

        now = clock.now()
        latest = runs_latest(operations=[status["operation"] for status in statuses])
        rows, findings = [], 0
        for status in statuses:
            run = latest.get(status["operation"])
            problem = run_problem(run, now=now)
            findings += bool(problem)
            detail = (run.error[:200] if run and run.error else "") or status.get("error", "")
            rows.append([
                status["operation"], status["migrated"], status["pending"], status["failed"],
                run.pk if run else None, run.status if run else "never run",
                run.actor if run else "",
                run.started_at if run else None, run.finished_at if run else None,
                run.heartbeat_at if run else None, problem, detail,
            ])
        problem_at = self.columns.index("problem")
        rows.sort(key=lambda row: (row[problem_at] == "", row[0]))  # problems first
        notes = [
            "migrated, pending: the operation's own status counts; failed: failed rows of its "
            "latest finished real run. The last run is the latest real (not dry) run.",
            "Runs belong to an operation, not a workspace: --workspace does not apply.",
        ]
        problems = [row[problem_at] for row in rows]
        summary = {"operations": len(rows), "failed runs": problems.count("failed"), "stuck runs": problems.count("stuck")}
        rows = rows[:limit] if limit is not None else rows
        output = self.output(rows=rows, findings=findings, generated_at=now, params={"limit": limit},
                             notes=notes, summary=summary)
        if not counted:
            output.columns = [self.columns[0], *self.columns[4:]]
            output.rows = [[row[0], *row[4:]] for row in rows]
            output.notes.append("Row counts are left out (they read the legacy tables); the report page has them.")
        return output
