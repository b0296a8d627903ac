"""expiry-backfill writes, inside the caller's (batch) transaction, through the posting core.

Grants made before the expiry policy get ``effective_from + months``; the ones already past
that are expired at once by :func:`ledger.services.expiry.lots_expire` (the same set-based
statements as the daily expiry job). Legacy ``users.credits`` balances become one opening
``migration`` grant per user, dated at the user's creation, so they expire on the same
rule. The rollback steps put everything back with new entries: the ledger stays
append-only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q, Sum

from ledger import clock
from ledger.actors import Actor
from ledger.models import CreditAccount, Customer, EntryType, Grant, GrantKind, LedgerEntry, OwnerKind, Workspace
from ledger.services.accounts import account_open
from ledger.services.expiry import lots_expire
from ledger.services.grants import grant_apply
from ledger.services.postings import Posting, account_lock, debt_settle, entry_append, entry_replay, request_hash

from ..models import LegacyUser
from .key_credits import SOURCE as KEY_CREDITS_SOURCE

SOURCE = "users-credits"
DEFAULT_WORKSPACE = "legacy-users"
#: Kinds that never expire by design: refills are a quota reset, adjustments and refunds
#: are corrections of credits that already had (or never had) an expiry.
NEVER_EXPIRING_KINDS = (GrantKind.REFILL, GrantKind.ADJUSTMENT, GrantKind.REFUND)


def grants_never_expiring() -> Q:
    """The lots the backfill leaves without an expiry (and verify does not count)."""
    return Q(kind__in=NEVER_EXPIRING_KINDS) | Q(kind=GrantKind.MIGRATION, source=KEY_CREDITS_SOURCE)


def grants_without_expiry(*, workspace: str | None = None):
    """Live lots that should expire but have no expiry date."""
    queryset = Grant.objects.filter(expires_at__isnull=True, voided_at__isnull=True, expired_at__isnull=True)
    queryset = queryset.exclude(grants_never_expiring())
    if workspace:
        queryset = queryset.filter(account__workspace__slug=workspace)
    return queryset


@dataclass(frozen=True)
class Backfilled:
    expires_at: datetime
    expired: int


def lot_expiry_backfill(*, grant_id: int, months: int, at: datetime, actor: Actor) -> Backfilled | None:
    """Give a lot with no expiry ``effective_from + months`` and, when that has passed,
    expire what it holds now (entry, lot zeroed and stamped, totals). None: nothing to do."""
    account_id = Grant.objects.filter(pk=grant_id).values_list("account_id", flat=True).first()
    if account_id is None:
        return None
    account_lock(account_id=account_id)
    grant = Grant.objects.get(pk=grant_id)
    if grant.expires_at is not None or grant.voided_at is not None or grant.expired_at is not None:
        return None
    expires_at = clock.add_months(grant.effective_from, months)
    Grant.objects.filter(pk=grant_id).update(expires_at=expires_at)
    _, expired, _ = lots_expire(lot_ids=[grant_id], at=at, actor=actor)
    return Backfilled(expires_at=expires_at, expired=expired)


def legacy_user_problem(user: LegacyUser) -> str:
    """Why a legacy user cannot be migrated, or ''."""
    if user.credits < 0:
        return f"credits {user.credits} is negative"
    try:
        validate_email(user.email)
    except ValidationError:
        return f"email {user.email!r} is not a valid address"
    return ""


@dataclass(frozen=True)
class Opening:
    account_id: int
    grant_id: int | None
    customer_created: bool
    expires_at: datetime
    expired: int
    replayed: bool


def user_opening_grant(*, user: LegacyUser, workspace: Workspace, months: int, at: datetime,
                       actor: Actor) -> Opening:
    """Open the user's account (a product user in ``workspace``) with one migration grant of
    ``users.credits``, effective at the user's creation and expiring ``months`` later;
    expire it now if that has passed. Once per user (idempotency key)."""
    customer, created = Customer.objects.get_or_create(
        workspace=workspace, external_id=str(user.pk), defaults={"email": user.email}
    )
    opened = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.CUSTOMER, owner_id=customer.pk)
    account = account_lock(account_id=opened.pk)
    expires_at = clock.add_months(user.created_at, months)
    key = f"{SOURCE}:{user.pk}"
    fingerprint = request_hash(op="opening", user=user.pk, credits=user.credits)
    previous = entry_replay(account=account, key=key, fingerprint=fingerprint)
    if previous is not None:
        return Opening(account.pk, previous.lot_id, False, expires_at, 0, True)
    posting = Posting(
        actor=actor, description=f"Opening balance from users.credits ({user.credits}) of legacy user {user.pk}",
        source=SOURCE, source_id=str(user.pk), idempotency_key=key, fingerprint=fingerprint,
    )
    lot, _ = grant_apply(
        account=account, amount=user.credits, kind=GrantKind.MIGRATION, posting=posting,
        effective_from=user.created_at, expires_at=expires_at, reason="users.credits opening balance",
    )
    _, expired, _ = lots_expire(lot_ids=[lot.pk], at=at, actor=actor)
    return Opening(account.pk, lot.pk, created, expires_at, expired, False)


def workspace_target(slug: str | None) -> Workspace:
    """The workspace legacy users are opened in (created when missing)."""
    slug = slug or DEFAULT_WORKSPACE
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
    return workspace


# -- rollback steps (each its own transaction, idempotent) ---------------------------------


def lot_expiry_reverse(*, grant_id: int, credits: int, actor: Actor, run_id: int) -> int:
    """Undo an expiry the run booked: a new EXPIRE entry of ``+credits`` (total_expired goes
    back down) on the lot, whose remaining is restored and expired_at cleared; any debt
    the account holds is paid from the restored credits first, so balance = lots - debt
    still holds. Returns the credits restored (0 when already reversed)."""
    account_id = Grant.objects.filter(pk=grant_id).values_list("account_id", flat=True).get()
    account = account_lock(account_id=account_id)
    lot = Grant.objects.get(pk=grant_id)
    if lot.expired_at is None or not credits:
        return 0
    lot.remaining, lot.expired_at = credits, None
    debt_settle(account=account, lot=lot)
    lot.save(update_fields=["remaining", "expired_at"])
    posting = Posting(
        actor=actor, description=f"Reversal of the expiry of grant #{grant_id} (rollback of migration run #{run_id})",
        source="expiry-backfill-rollback", source_id=str(grant_id),
        idempotency_key=f"expiry-backfill-rollback:{run_id}:{grant_id}",
        fingerprint=request_hash(op="expiry-reversal", grant=grant_id, credits=credits),
    )
    entry_append(account=account, entry_type=EntryType.EXPIRE, amount=credits, posting=posting, lot=lot)
    return credits


def lot_expiry_clear(*, grant_id: int, expires_at: str) -> bool:
    """Clear a backfilled expiry date if it is still the one the run set."""
    lot = Grant.objects.get(pk=grant_id)
    if lot.expires_at is None or lot.expires_at != datetime.fromisoformat(expires_at):
        return False
    Grant.objects.filter(pk=grant_id).update(expires_at=None)
    return True


def accounts_off_balance(*, account_ids: list[int]) -> list[str]:
    """Accounts whose balance differs from the sum of their entries or from lots - debt."""
    entries = dict(
        LedgerEntry.objects.filter(account_id__in=account_ids).values_list("account_id").annotate(total=Sum("amount"))
    )
    lots = dict(
        Grant.objects.filter(account_id__in=account_ids).values_list("account_id").annotate(total=Sum("remaining"))
    )
    problems = []
    for pk, balance, debt in CreditAccount.objects.filter(pk__in=account_ids).values_list("pk", "balance", "debt"):
        if balance != (entries.get(pk) or 0) or balance != (lots.get(pk) or 0) - debt:
            problems.append(f"account #{pk}: balance {balance}, entries {entries.get(pk) or 0}, "
                            f"lots {lots.get(pk) or 0} - debt {debt}")
    return problems
