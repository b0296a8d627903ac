"""Template filters for credit amounts: grouped digits, signed and coloured."""
from django import template

from ledger.admin.base import credits_html

register = template.Library()


@register.filter
def credits(value) -> str:
    """1234567 -> '1,234,567'."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def signed_credits(value):
    """A signed amount coloured green (in) or red (out)."""
    try:
        return credits_html(int(value))
    except (TypeError, ValueError):
        return ""


@register.filter
def bound_field(form, name: str):
    """``form|bound_field:"amount"``: a form's field by a name held in a variable."""
    return form[name]
