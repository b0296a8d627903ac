"""The current time, in one place so that tests and jobs can inject another clock."""
from __future__ import annotations

import calendar
from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """Return the current aware time. Tests patch ``ledger.clock.now``."""
    return timezone.now()


def add_months(moment: datetime, months: int) -> datetime:
    """Return ``moment`` plus ``months`` calendar months, clamped to the last day of a
    shorter month (Aug 31 + 6 months = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
