"""Opening accounts, setting their overdraft limit, and recalculating them from entries."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max, Sum

from ..actors import Actor
from ..exceptions import InvalidInput, InvalidState
from ..models import AuditEvent, CreditAccount, EntryType, Grant, LedgerEntry, OwnerKind
from ..totals import TOTAL_FIELDS, totals_aggregates
from .postings import Posting, account_lock, entry_append

_OWNER_FIELD = {
    OwnerKind.CUSTOMER: "customer_id",
    OwnerKind.API_KEY: "api_key_id",
    OwnerKind.IDENTITY: "identity_id",
    OwnerKind.WORKSPACE: None,
}


def account_open(*, workspace_id: int, owner_kind: str, owner_id: int | None = None) -> CreditAccount:
    """Return the owner's account, creating it if needed; safe under concurrent callers.

    Runs inside the caller's transaction when there is one.
    """
    if owner_kind not in _OWNER_FIELD:
        raise InvalidInput("owner_kind", f"must be one of {', '.join(_OWNER_FIELD)}")
    field = _OWNER_FIELD[owner_kind]
    if field is not None and owner_id is None:
        raise InvalidInput("owner_id", f"is required for a {owner_kind} account")
    lookup = {"workspace_id": workspace_id, "owner_kind": owner_kind}
    if field:
        lookup[field] = owner_id
    existing = CreditAccount.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return CreditAccount.objects.create(**lookup)
    except IntegrityError:
        return CreditAccount.objects.get(**lookup)


@transaction.atomic(durable=True)
def account_overdraft_set(*, account_id: int, limit: int, actor: Actor, reason: str) -> CreditAccount:
    """Set how far below zero the account may go; never below its current debt."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInput("overdraft_limit", "must be a whole number of credits, 0 or more")
    if not reason.strip():
        raise InvalidInput("reason", "is required to change an overdraft limit")
    account = account_lock(account_id=account_id)
    if limit < account.debt:
        raise InvalidInput("overdraft_limit", f"must be at least the current debt ({account.debt})")
    old = account.overdraft_limit
    account.overdraft_limit = limit
    account.save(update_fields=["overdraft_limit", "updated_at"])
    AuditEvent.objects.create(
        action="account.overdraft_set", actor=actor.label, actor_user_id=actor.user_id,
        object_type="account", object_id=str(account.pk), reason=reason,
        details={"old": old, "new": limit},
    )
    return account


@dataclass(frozen=True)
class Recalculation:
    account_id: int
    before: dict
    after: dict
    adjustment: int = 0
    adjustment_entry_id: int | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _entries_state(account: CreditAccount) -> dict:
    """Return what the account's entries say its balance, totals and sequence are, and the
    balance its last entry ends at."""
    sums = LedgerEntry.objects.filter(account=account).aggregate(**totals_aggregates(), seq=Max("seq"))
    state = {name: sums[name] for name in ("balance", *TOTAL_FIELDS)} | {"entry_seq": sums["seq"] or 0}
    last_after = (
        LedgerEntry.objects.filter(account=account, seq=state["entry_seq"]).values_list("balance_after", flat=True).first()
        or 0
    )
    if last_after != state["balance"]:
        raise InvalidState(
            f"account {account.pk}: its entries sum to {state['balance']} but its last entry ends at "
            f"{last_after}, so the entry chain is broken; entries are never rewritten, so this needs "
            "an investigation, not a recalculation",
            field="account",
        )
    return state


@transaction.atomic(durable=True)
def account_recalculate(*, account_id: int, actor: Actor, reason: str) -> Recalculation:
    """Bring the account back in line with its ledger without rewriting anything.

    The balance, totals and sequence are rebuilt from the entries (the record of truth).
    If the lots then hold a different amount (remaining minus debt) than the entries say,
    the difference is booked as an ADJUSTMENT entry, so the ledger explains every credit
    the account can spend. One audit event records before, after and the adjustment.
    Refuses an account whose entry chain is broken (its entries cannot be rewritten).
    """
    if not reason.strip():
        raise InvalidInput("reason", "is required to recalculate an account")
    account = account_lock(account_id=account_id)
    rebuilt = _entries_state(account)
    before = {name: getattr(account, name) for name in rebuilt}
    if before != rebuilt:
        for name, value in rebuilt.items():
            setattr(account, name, value)
        account.save(update_fields=[*rebuilt, "updated_at"])
    in_lots = Grant.objects.filter(account=account).aggregate(total=Sum("remaining"))["total"] or 0
    difference = in_lots - account.debt - account.balance
    entry = None
    if difference:
        posting = Posting(
            actor=actor, source="repair", source_id=str(account.pk),
            description=(
                f"Repair: the lots hold {in_lots - account.debt} but the entries summed to "
                f"{account.balance}: {reason}"
            ),
        )
        entry = entry_append(account=account, entry_type=EntryType.ADJUSTMENT, amount=difference, posting=posting)
    after = {name: getattr(account, name) for name in rebuilt}
    AuditEvent.objects.create(
        action="account.recalculate", actor=actor.label, actor_user_id=actor.user_id,
        object_type="account", object_id=str(account.pk), reason=reason,
        details={
            "before": before, "rebuilt_from_entries": rebuilt, "after": after,
            "adjustment": difference, "adjustment_entry": entry.pk if entry else None,
        },
    )
    return Recalculation(
        account_id=account.pk, before=before, after=after, adjustment=difference,
        adjustment_entry_id=entry.pk if entry else None,
    )
