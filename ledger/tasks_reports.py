"""Celery tasks of the reports: the daily consistency report and the daily summary refresh.

Thin callers: each runs one service as a system actor. The beat schedule names them
``ledger.tasks_reports.consistency_report_daily`` and ``ledger.tasks_reports.daily_summary_refresh``.
"""
from __future__ import annotations

from celery import shared_task

from .actors import Actor
from .services.reports import report_run_store
from .services.summaries import SUMMARY_DAYS
from .services.summaries import daily_summary_catch_up as summary_catch_up

#: Findings kept per check in a stored daily result (the count of a runaway fault stays honest
#: per check up to this cap; the command has no cap).
DAILY_ROW_CAP = 10_000


@shared_task(name="ledger.tasks_reports.consistency_report_daily")
def consistency_report_daily() -> dict:
    """Run the consistency report over every workspace and store its result."""
    result = report_run_store(name="consistency", actor=Actor.system("consistency_report_daily"), limit=DAILY_ROW_CAP)
    return {"report_result": result.pk, "findings": result.findings}


@shared_task(name="ledger.tasks_reports.daily_summary_refresh")
def daily_summary_refresh(days: int = SUMMARY_DAYS) -> dict:
    """Keep the daily summary current (beat, every 10 minutes): today and yesterday, and any
    of the last ``days`` days not summarised yet."""
    start, end = summary_catch_up(days=days, actor=Actor.system("daily_summary_refresh"))
    return {"start": start.isoformat(), "end": end.isoformat(), "days": (end - start).days + 1}


@shared_task(name="ledger.tasks_reports.report_store")
def report_store(name: str, user_id: int | None = None) -> dict:
    """Run a report and store its result, for a person who asked for it from the admin."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    actor = Actor.staff(user) if user else Actor.system("report_store")
    result = report_run_store(name=name, actor=actor)
    return {"report_result": result.pk, "findings": result.findings}
