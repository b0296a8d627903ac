"""The Health dashboard's sections: a registry, so a new kind of trouble is one function.

A section is a function ``(*, now) -> HealthSection`` registered with :func:`health_section`.
Every report whose ``health`` is ``"stored"`` or ``"live"`` becomes a section by itself.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse

from .. import reports
from ..reports.base import ReportOutput
from ..selectors.dashboards import beat_jobs_late, report_latest

#: Rows a live report shows on the Health page (the report page has them all).
LIVE_ROWS = 20


@dataclass
class HealthSection:
    key: str
    title: str
    status: str  # "ok", "fail" or "unknown"
    message: str
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    link: str = ""
    result_id: int | None = None
    generated_at: datetime | None = None


SectionFunction = Callable[..., HealthSection]
_SECTIONS: list[tuple[int, SectionFunction]] = []


def health_section(order: int = 100) -> Callable[[SectionFunction], SectionFunction]:
    """Register a Health section, shown in ``order``."""

    def register(function: SectionFunction) -> SectionFunction:
        _SECTIONS.append((order, function))
        return function

    return register


def _report_section(report: reports.Report) -> HealthSection:
    link = reverse("dashboards:report", args=[report.name])
    if report.health == "stored":
        stored = report_latest(name=report.name)
        if stored is None:
            return HealthSection(report.name, report.title, "unknown", "Never run yet.", link=link)
        output, result_id = ReportOutput.from_dict(stored.result), stored.pk
    else:
        output, result_id = report.health_run(limit=LIVE_ROWS), None
    status = "fail" if output.findings else "ok"
    message = f"{output.findings} finding{'s' if output.findings != 1 else ''}" if output.findings else "All clear."
    return HealthSection(
        report.name, report.title, status, message, columns=output.columns, rows=output.rows[:LIVE_ROWS],
        link=link, result_id=result_id, generated_at=output.generated_at,
    )


@health_section(order=900)
def beat_section(*, now: datetime) -> HealthSection:
    checked, late = beat_jobs_late(now=now)
    rows = [[job.task.name, job.task.task, job.schedule, job.last_run_at, job.due_at, _duration(job.late_by)]
            for job in late]
    return HealthSection(
        "beat", "Scheduled jobs", "fail" if late else "ok",
        f"{len(late)} of {checked} enabled jobs did not run on schedule." if late
        else f"All {checked} enabled jobs ran on schedule.",
        columns=["job", "task", "schedule", "last run", "was due", "late by"], rows=rows,
        link=reverse("admin:django_celery_beat_periodictask_changelist"),
    )


def _duration(delta) -> str:
    hours, seconds = divmod(int(delta.total_seconds()), 3600)
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h {seconds // 60} min"


def sections_build(*, now: datetime) -> list[HealthSection]:
    """Return every section: reports shown on Health first (by name), then the others."""
    built = [_report_section(cls()) for cls in reports.reports_all().values() if cls.health]
    built += [function(now=now) for _, function in sorted(_SECTIONS, key=lambda item: item[0])]
    return built
