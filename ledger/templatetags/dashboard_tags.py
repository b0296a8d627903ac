"""Template filters of the dashboards."""
from datetime import datetime
from datetime import timezone as dt_timezone

from django import template

register = template.Library()


@register.filter
def credits(value):
    """Format a whole number of credits with thousands separators: 1234567 -> 1,234,567."""
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else value


@register.filter
def cell(value):
    """Format a report cell: credits with separators, times as YYYY-MM-DD HH:MM (UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M")
    return credits(value)
