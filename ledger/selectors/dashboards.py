"""Reads behind the dashboards: each one bounded (an aggregate, a date range or a LIMIT)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Max, Min, Q, Sum
from django.db.models.functions import Coalesce
from django_celery_beat.models import PeriodicTask

from .. import clock
from ..models import OWNER_RELATIONS, CreditAccount, DailySummary, Grant, ReportResult, Workspace

#: The business flows of the daily summary, and the data migrations' flows shown apart.
FLOWS = ("granted", "spent", "expired", "voided", "refilled")
MIGRATION_FLOWS = ("migrated_in", "migrated_out")

#: Workspaces listed in the dashboards' filter (more can be typed into the URL).
WORKSPACE_CHOICES = 200


def workspaces_for_filter() -> list[Workspace]:
    return list(Workspace.objects.only("slug", "name").order_by("slug")[:WORKSPACE_CHOICES])


def summary_series(*, workspace_id: int | None, days: int = 90, today: date | None = None) -> dict:
    """Return per-day flows and outstanding for the last ``days`` UTC days from the daily
    summary (one grouped query over at most ``days`` x workspaces rows); days the summary
    has not covered yet count as 0 and are listed in ``missing``."""
    today = today or clock.now().date()
    first = today - timedelta(days=days - 1)
    flows = (*FLOWS, *MIGRATION_FLOWS)
    rows = DailySummary.objects.filter(day__gte=first, day__lte=today)
    if workspace_id is not None:
        rows = rows.filter(workspace_id=workspace_id)
    by_day = {
        row["day"]: row
        for row in rows.values("day").annotate(**{name: Sum(name) for name in (*flows, "outstanding")}).order_by()
    }
    axis = [first + timedelta(days=i) for i in range(days)]
    series = {name: [int(by_day.get(day, {}).get(name) or 0) for day in axis] for name in (*flows, "outstanding")}
    return {"days": axis, **series, "missing": [day for day in axis if day not in by_day],
            "totals": {name: sum(series[name]) for name in flows}}


def outstanding_now(*, workspace_id: int | None) -> int:
    """Return the credits outstanding now: the sum of the accounts' balances."""
    accounts = CreditAccount.objects.all()
    if workspace_id is not None:
        accounts = accounts.filter(workspace_id=workspace_id)
    return accounts.aggregate(total=Coalesce(Sum("balance"), 0))["total"]


def accounts_top(*, workspace_id: int | None, order: str, limit: int = 10) -> list[CreditAccount]:
    """Return the accounts with the highest ``order`` field (balance or total_spent)."""
    if order not in ("balance", "total_spent"):
        raise ValueError(f"cannot rank accounts by {order!r}")
    accounts = CreditAccount.objects.select_related(*OWNER_RELATIONS)
    if workspace_id is not None:
        accounts = accounts.filter(workspace_id=workspace_id)
    # No tie-breaker: ``ORDER BY x DESC, id`` would sort every account sharing a value
    # (think 100 signup credits) instead of reading the first rows of the index.
    return list(accounts.order_by(f"-{order}")[:limit])


@dataclass(frozen=True)
class ExpiringSoon:
    in_7_days: int
    in_30_days: int
    first: datetime | None


def expiring_soon(*, workspace_id: int | None, now: datetime | None = None) -> ExpiringSoon:
    """Return the credits active lots will lose to expiry in the next 7 and 30 days (one
    aggregate over the partial index of lots due to expire)."""
    now = now or clock.now()
    lots = Grant.objects.filter(remaining__gt=0, expires_at__gt=now, expires_at__lte=now + timedelta(days=30))
    if workspace_id is not None:
        lots = lots.filter(account__workspace_id=workspace_id)
    sums = lots.aggregate(
        in_7=Coalesce(Sum("remaining", filter=Q(expires_at__lte=now + timedelta(days=7))), 0),
        in_30=Coalesce(Sum("remaining"), 0),
        first=Min("expires_at"),
    )
    return ExpiringSoon(in_7_days=sums["in_7"], in_30_days=sums["in_30"], first=sums["first"])


def report_latest(*, name: str) -> ReportResult | None:
    """Return the most recent stored result of a report."""
    return ReportResult.objects.filter(name=name).order_by("-generated_at", "-id").first()


def summary_refreshed_at() -> datetime | None:
    return DailySummary.objects.aggregate(last=Max("refreshed_at"))["last"]


@dataclass(frozen=True)
class BeatLate:
    task: PeriodicTask
    schedule: str
    last_run_at: datetime | None
    due_at: datetime
    late_by: timedelta


def beat_jobs_late(*, now: datetime | None = None, grace: timedelta = timedelta(minutes=10)) -> tuple[int, list[BeatLate]]:
    """Return (enabled jobs checked, those that missed their schedule by more than
    ``grace``): a job is late when its next run after the last one (or after it was
    created or changed, if it never ran) is already past. One query."""
    now = now or clock.now()
    tasks = list(
        PeriodicTask.objects.filter(enabled=True)
        .select_related("interval", "crontab", "solar", "clocked")
        .order_by("name")[:500]
    )
    late = []
    for task in tasks:
        if task.one_off and task.total_run_count:
            continue
        since = task.last_run_at or task.start_time or task.date_changed
        due_at = _due_at(task, since)
        if now - due_at > grace:
            late.append(BeatLate(task=task, schedule=str(task.scheduler), last_run_at=task.last_run_at,
                                 due_at=due_at, late_by=now - due_at))
    return len(tasks), late


def _due_at(task: PeriodicTask, since: datetime) -> datetime:
    """Return when the job should next have run after ``since``, by its own schedule."""
    schedule = task.schedule
    if task.clocked_id:
        return task.clocked.clocked_time
    if hasattr(schedule, "remaining_delta"):  # crontab: the next matching minute
        start, ends_in, _ = schedule.remaining_delta(since)
        return start + ends_in
    if hasattr(schedule, "run_every"):  # interval
        return since + schedule.run_every
    return clock.now() + schedule.remaining_estimate(since)  # solar: relative to the real now
