"""Reads about expiry: credits that will expire in the next N days."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from .. import clock
from ..models import Grant


def _expiring(*, days: int, at: datetime | None) -> QuerySet[Grant]:
    now = at or clock.now()
    return Grant.objects.filter(
        remaining__gt=0, expires_at__isnull=False, expires_at__gt=now, expires_at__lte=now + timedelta(days=days)
    )


def account_expiring_soon(*, account_id: int, days: int = 30, at: datetime | None = None) -> int:
    """Return the credits of the account that expire within ``days`` days (one query)."""
    lots = _expiring(days=days, at=at).filter(account_id=account_id)
    return lots.aggregate(total=Coalesce(Sum("remaining"), Value(0)))["total"]


@dataclass(frozen=True)
class ExpiringSoon:
    total_credits: int
    total_accounts: int
    accounts: list[dict]  # account_id, credits, lots, first_expiry: largest amounts first


def expiring_soon_report(
    *, days: int = 30, workspace_id: int | None = None, limit: int = 100, at: datetime | None = None
) -> ExpiringSoon:
    """Return credits expiring within ``days`` days: totals and the accounts with the most
    (two queries whatever the number of accounts)."""
    lots = _expiring(days=days, at=at)
    if workspace_id is not None:
        lots = lots.filter(account__workspace_id=workspace_id)
    totals = lots.aggregate(credits=Coalesce(Sum("remaining"), Value(0)), accounts=Count("account_id", distinct=True))
    rows = list(
        lots.values("account_id")
        .annotate(credits=Sum("remaining"), lots=Count("id"), first_expiry=Min("expires_at"))
        .order_by("-credits", "account_id")[:limit]
    )
    return ExpiringSoon(total_credits=totals["credits"], total_accounts=totals["accounts"], accounts=rows)
