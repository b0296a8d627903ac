"""How entries count towards an account's totals: earned, spent and expired.

``balance = earned - spent - expired`` always, because every entry lands in exactly one
bucket: grants and positive refills or adjustments are earned; debits, holds, refunds,
releases and negative adjustments move spent; expiries, voids and refill resets move expired.
"""
from __future__ import annotations

import operator
from functools import reduce

from django.db.models import Case, F, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from .models import EntryType

TOTAL_FIELDS = ("total_earned", "total_spent", "total_expired")

_BY_TYPE = {
    EntryType.GRANT: ("total_earned", "total_earned"),
    EntryType.DEBIT: ("total_spent", "total_spent"),
    EntryType.HOLD: ("total_spent", "total_spent"),
    EntryType.REFUND: ("total_spent", "total_spent"),
    EntryType.RELEASE: ("total_spent", "total_spent"),
    EntryType.EXPIRE: ("total_expired", "total_expired"),
    EntryType.VOID: ("total_expired", "total_expired"),
    EntryType.ADJUSTMENT: ("total_earned", "total_spent"),
    EntryType.REFILL: ("total_earned", "total_expired"),
}


def total_delta(entry_type: str, amount: int) -> tuple[str, int]:
    """Return (account field, delta) for an entry: earned grows by the amount, spent and
    expired grow by its negation."""
    positive, negative = _BY_TYPE[entry_type]
    field = positive if amount > 0 else negative
    return field, amount if field == "total_earned" else -amount


def totals_aggregates() -> dict:
    """Return aggregates over a LedgerEntry queryset: balance and the three totals, in SQL."""
    aggregates = {"balance": Coalesce(Sum("amount"), Value(0))}
    for field in TOTAL_FIELDS:
        sign = 1 if field == "total_earned" else -1
        parts = [Q(entry_type=t, amount__gt=0) for t, (pos, _) in _BY_TYPE.items() if pos == field]
        parts += [Q(entry_type=t, amount__lt=0) for t, (_, neg) in _BY_TYPE.items() if neg == field]
        condition = reduce(operator.or_, parts)
        aggregates[field] = Coalesce(
            Sum(Case(When(condition, then=F("amount") * sign), default=Value(0))), Value(0)
        )
    return aggregates
