"""Walking large sets of ledger entries without OFFSET and without loading them at once."""
from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from ..models import LedgerEntry


def entries_keyset(queryset: QuerySet[LedgerEntry], *, batch_size: int = 2000) -> Iterator[LedgerEntry]:
    """Yield the queryset's entries newest first, ``batch_size`` rows per query, each batch
    starting below the last id seen (keyset pagination: every query is an index range)."""
    ordered = queryset.order_by("-id")
    last_id = None
    while True:
        page = ordered if last_id is None else ordered.filter(id__lt=last_id)
        batch = list(page[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        last_id = batch[-1].pk
