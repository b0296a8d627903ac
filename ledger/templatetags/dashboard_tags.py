"""Template filters of the dashboards."""
from django import template

register = template.Library()


@register.filter
def credits(value):
    """Format a whole number of credits with thousands separators: 1234567 -> 1,234,567."""
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else value
