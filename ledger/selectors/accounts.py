"""Reading accounts: lookup by owner, balance with credits expiring soon, entry history.

Every function takes the caller's ``workspace_id``: an account of another workspace is
reported as missing (AccountNotFound), never as forbidden.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet, Sum

from .. import clock
from ..exceptions import AccountNotFound, InvalidInput
from ..models import OWNER_RELATIONS, CreditAccount, Grant, LedgerEntry, OwnerKind

#: Owner kind -> the owner relation whose ``external_id`` finds the account.
_OWNER_RELATION = {
    OwnerKind.CUSTOMER: "customer",
    OwnerKind.API_KEY: "api_key",
    OwnerKind.IDENTITY: "identity",
}
#: At most this many expiring lots are listed; their total always counts them all.
EXPIRING_LOTS_LISTED = 100


def _accounts(workspace_id: int) -> QuerySet[CreditAccount]:
    return CreditAccount.objects.filter(workspace_id=workspace_id).select_related(*OWNER_RELATIONS)


def account_get(*, account_id: int, workspace_id: int) -> CreditAccount:
    """Return the workspace's account with its owner (one query)."""
    account = _accounts(workspace_id).filter(pk=account_id).first()
    if account is None:
        raise AccountNotFound(account_id)
    return account


def account_by_owner_get(*, workspace_id: int, owner_kind: str, external_id: str = "") -> CreditAccount:
    """Return the account of a workspace's owner, found by the product's external id (the
    workspace's own account needs none)."""
    if owner_kind == OwnerKind.WORKSPACE:
        lookup = Q(owner_kind=OwnerKind.WORKSPACE)
    elif owner_kind in _OWNER_RELATION:
        if not external_id:
            raise InvalidInput("external_id", f"is required for a {owner_kind} account")
        lookup = Q(owner_kind=owner_kind, **{f"{_OWNER_RELATION[owner_kind]}__external_id": external_id})
    else:
        raise InvalidInput("owner_kind", f"must be one of {', '.join(OwnerKind.values)}")
    account = _accounts(workspace_id).filter(lookup).first()
    if account is None:
        raise AccountNotFound(external_id or owner_kind)
    return account


@dataclass(frozen=True)
class AccountBalance:
    account: CreditAccount
    available: int
    expiring_within_days: int
    expiring_until: datetime
    expiring_credits: int
    expiring_lots: list[Grant]


def account_balance_get(*, account_id: int, workspace_id: int, expiring_within_days: int = 30) -> AccountBalance:
    """Return the account's balance, what it may spend now (spendable lots plus overdraft
    headroom) and the credits its lots lose in the next ``expiring_within_days`` days.
    Three queries whatever the number of lots."""
    account = account_get(account_id=account_id, workspace_id=workspace_id)
    now = clock.now()
    until = now + timedelta(days=expiring_within_days)
    active = Q(remaining__gt=0, voided_at__isnull=True, expired_at__isnull=True) & ~Q(expires_at__lte=now)
    expiring = Q(expires_at__isnull=False, expires_at__lte=until)
    sums = Grant.objects.filter(active, account=account).aggregate(
        spendable=Sum("remaining", filter=Q(effective_from__lte=now)),
        expiring=Sum("remaining", filter=expiring),
    )
    lots = list(
        Grant.objects.filter(active, expiring, account=account).order_by("expires_at", "id")[:EXPIRING_LOTS_LISTED]
    )
    headroom = max(account.overdraft_limit - account.debt, 0)
    return AccountBalance(
        account=account, available=(sums["spendable"] or 0) + headroom,
        expiring_within_days=expiring_within_days, expiring_until=until,
        expiring_credits=sums["expiring"] or 0, expiring_lots=lots,
    )


def entries_list(
    *,
    account_id: int,
    workspace_id: int,
    types: list[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    """Return the account's entries, newest first, filtered by type and creation time
    (``created_after`` inclusive, ``created_before`` exclusive). Checks the account exists
    in the workspace (one query); the queryset is keyset-paginated by id."""
    account_get(account_id=account_id, workspace_id=workspace_id)
    entries = LedgerEntry.objects.filter(account_id=account_id).order_by("-id")
    if types:
        entries = entries.filter(entry_type__in=types)
    if created_after is not None:
        entries = entries.filter(created_at__gte=created_after)
    if created_before is not None:
        entries = entries.filter(created_at__lt=created_before)
    return entries


def account_ids_matching(term: str) -> QuerySet:
    """Ids of the accounts whose owner matches ``term``: a product user's email (substring,
    any case) or id (exact), an API key's or identity's id, or the workspace slug
    (substrings, any case). For the admin's account search.

    One branch per owner table, joined by UNION ALL: each looks its owners up through that
    table's own index (trigram indexes on PostgreSQL, ledger migration 0013) and their
    accounts through the unique owner columns, where one OR over the four joined tables
    (the admin's default search) filters every account row.
    """
    from ..models import ApiKey, Customer, Identity, Workspace

    def owned(field: str, owners: QuerySet) -> QuerySet:
        return CreditAccount.objects.filter(**{f"{field}__in": owners.values("pk")}).values_list("pk", flat=True)

    branches = [
        owned("customer", Customer.objects.filter(email__icontains=term)),
        owned("customer", Customer.objects.filter(external_id=term)),
        owned("api_key", ApiKey.objects.filter(external_id__icontains=term)),
        owned("identity", Identity.objects.filter(external_id__icontains=term)),
        owned("workspace", Workspace.objects.filter(slug__icontains=term)),
    ]
    return branches[0].union(*branches[1:], all=True)
