"""The ledger invariants of DESIGN.md, checked from the rows (for usage/expiry/refill tests)."""
from django.db.models import Sum

from ledger.models import CreditAccount, Grant, LedgerEntry
from ledger.totals import TOTAL_FIELDS, totals_aggregates


def assert_account_consistent(account_id: int) -> None:
    """balance = sum(entries) = last entry = lots - debt; totals add up; entries chain."""
    account = CreditAccount.objects.get(pk=account_id)
    entries = list(LedgerEntry.objects.filter(account_id=account_id).order_by("seq"))
    previous = 0
    for number, entry in enumerate(entries, start=1):
        assert entry.seq == number, f"gap in seq at {number}"
        assert entry.balance_before == previous and entry.balance_after == previous + entry.amount
        previous = entry.balance_after
    sums = LedgerEntry.objects.filter(account_id=account_id).aggregate(**totals_aggregates())
    in_lots = Grant.objects.filter(account_id=account_id).aggregate(t=Sum("remaining"))["t"] or 0
    assert account.balance == previous == sums["balance"] == in_lots - account.debt
    assert account.entry_seq == len(entries)
    for name in TOTAL_FIELDS:
        assert getattr(account, name) == sums[name], name
    assert 0 <= account.debt <= account.overdraft_limit
