"""Reads for the back office: an account with its owner, its active lots, its latest entries."""
from __future__ import annotations

from django.db.models import F, QuerySet

from ..models import OWNER_RELATIONS, CreditAccount, Grant, LedgerEntry
from ..services.debits import REFUNDABLE_TYPES


def account_with_owner_get(*, account_id: object) -> CreditAccount | None:
    """Return the account with its workspace and owner loaded (one query), or None."""
    try:
        pk = int(account_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return CreditAccount.objects.select_related(*OWNER_RELATIONS).filter(pk=pk).first()


def lots_active(*, account_id: int) -> QuerySet[Grant]:
    """Return the lots still holding credits, in the order debits draw them."""
    return (
        Grant.objects.filter(account_id=account_id, remaining__gt=0)
        .select_related("created_by")
        .order_by("priority", F("expires_at").asc(nulls_last=True), "id")
    )


def entries_latest(*, account_id: int, limit: int = 20) -> list[LedgerEntry]:
    """Return the account's newest entries, newest first (an index range scan)."""
    return list(
        LedgerEntry.objects.filter(account_id=account_id).select_related("lot").order_by("-id")[:limit]
    )


def entry_refundable(entry: LedgerEntry) -> bool:
    """Say whether a staff member may be offered a refund of this entry."""
    return entry.entry_type in REFUNDABLE_TYPES and entry.amount < 0


def entry_refundable_amount(*, entry: LedgerEntry) -> int:
    """Return how much of a debit refunds have not yet returned."""
    return sum(a.amount - a.refunded for a in entry.allocations.all())
