"""CSV exports of ledger entries, streamed row by row over a keyset walk (never in memory)."""
from __future__ import annotations

import csv

from django.http import StreamingHttpResponse

from ledger.models import CreditAccount, LedgerEntry
from ledger.selectors.entries import entries_keyset

COLUMNS = ["id", "account_id", "seq", "created_at", "entry_type", "amount", "balance_before", "balance_after",
           "lot_id", "refund_of_id", "source", "source_id", "description", "actor", "idempotency_key"]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer over a generator."""

    def write(self, value: str) -> str:
        return value


def _rows(queryset):
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for entry in entries_keyset(queryset.only(*COLUMNS).select_related(None)):
        yield writer.writerow([_cell(getattr(entry, name)) for name in COLUMNS])


def _cell(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = "" if value is None else str(value)
    # Spreadsheets run cells that start like a formula; neutralise them.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not text.lstrip("+-").isdigit() else text


def entries_csv(queryset, *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def account_history_csv(account: CreditAccount) -> StreamingHttpResponse:
    return entries_csv(LedgerEntry.objects.filter(account_id=account.pk), filename=f"account-{account.pk}-history.csv")
