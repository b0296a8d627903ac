"""Celery tasks of the reports: the daily consistency report and the daily summary refresh.

Thin callers: each runs one service as a system actor. The beat schedule names them
``ledger.tasks_reports.consistency_report_daily`` and ``ledger.tasks_reports.daily_summary_refresh``.
"""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from . import clock
from .actors import Actor
from .services.reports import report_run_store
from .services.summaries import daily_summary_refresh as summary_refresh

#: Findings kept per check in a stored daily result (the count of a runaway fault stays honest
#: per check up to this cap; the command has no cap).
DAILY_ROW_CAP = 10_000


@shared_task(name="ledger.tasks_reports.consistency_report_daily")
def consistency_report_daily() -> dict:
    """Run the consistency report over every workspace and store its result."""
    result = report_run_store(name="consistency", actor=Actor.system("consistency_report_daily"), limit=DAILY_ROW_CAP)
    return {"report_result": result.pk, "findings": result.findings}


@shared_task(name="ledger.tasks_reports.daily_summary_refresh")
def daily_summary_refresh(days: int = 2) -> dict:
    """Rebuild the last ``days`` UTC days of the daily summary (yesterday and today by default)."""
    today = clock.now().date()
    start = today - timedelta(days=max(days, 1) - 1)
    rebuilt = summary_refresh(start=start, end=today, actor=Actor.system("daily_summary_refresh"))
    return {"start": start.isoformat(), "end": today.isoformat(), "days": rebuilt}


@shared_task(name="ledger.tasks_reports.report_store")
def report_store(name: str, user_id: int | None = None) -> dict:
    """Run a report and store its result, for a person who asked for it from the admin."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    actor = Actor.staff(user) if user else Actor.system("report_store")
    result = report_run_store(name=name, actor=actor)
    return {"report_result": result.pk, "findings": result.findings}
