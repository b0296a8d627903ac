"""What a repair of an account (``services.accounts.account_recalculate``) would do."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Max, Sum

from ..models import OWNER_RELATIONS, CreditAccount, Grant, LedgerEntry
from ..totals import TOTAL_FIELDS, totals_aggregates


@dataclass(frozen=True)
class RepairPreview:
    account: CreditAccount
    stored: dict
    from_entries: dict
    last_entry_after: int
    lots_minus_debt: int

    @property
    def chain_broken(self) -> bool:
        return self.last_entry_after != self.from_entries["balance"]

    @property
    def fields_changed(self) -> list[str]:
        return [name for name, value in self.from_entries.items() if self.stored[name] != value]

    @property
    def adjustment(self) -> int:
        """The adjustment entry the repair would book (0: none)."""
        return self.lots_minus_debt - self.from_entries["balance"]

    @property
    def needed(self) -> bool:
        return bool(self.fields_changed or self.adjustment)


def account_repair_preview(*, account_id: int) -> RepairPreview:
    """Return the account's stored figures beside what its entries and lots say (4 queries)."""
    account = CreditAccount.objects.select_related(*OWNER_RELATIONS).get(pk=account_id)
    sums = LedgerEntry.objects.filter(account=account).aggregate(**totals_aggregates(), seq=Max("seq"))
    from_entries = {name: sums[name] for name in ("balance", *TOTAL_FIELDS)} | {"entry_seq": sums["seq"] or 0}
    last_after = (
        LedgerEntry.objects.filter(account=account, seq=from_entries["entry_seq"])
        .values_list("balance_after", flat=True).first() or 0
    )
    in_lots = Grant.objects.filter(account=account).aggregate(total=Sum("remaining"))["total"] or 0
    return RepairPreview(
        account=account, stored={name: getattr(account, name) for name in from_entries},
        from_entries=from_entries, last_entry_after=last_after, lots_minus_debt=in_lots - account.debt,
    )
