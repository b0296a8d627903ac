"""Running a report and keeping its result: the only writer of ReportResult rows."""
from __future__ import annotations

import time

from django.db import transaction

from .. import reports
from ..actors import Actor
from ..models import ReportResult


def report_run_store(
    *, name: str, actor: Actor, workspace_id: int | None = None, limit: int | None = None
) -> ReportResult:
    """Run the named report and store its whole result, with who ran it and how long it took.

    The report reads in its own statements; the result row is written in one short
    transaction afterwards, so a long report holds no write lock.
    """
    report = reports.report_get(name)
    started = time.monotonic()
    output = report.run(workspace_id=workspace_id, limit=limit)
    duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic(durable=True):
        return ReportResult.objects.create(
            name=name, params=output.to_dict()["params"], result=output.to_dict(),
            findings=output.findings, generated_at=output.generated_at, duration_ms=duration_ms,
            actor=actor.label, created_by_id=actor.user_id,
        )
