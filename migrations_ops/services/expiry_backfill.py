"""expiry-backfill writes, inside the caller's (batch) transaction, through the posting core.

Grants made before the expiry policy get ``effective_from + months``; the ones already past
that are expired at once by :func:`ledger.services.expiry.lots_expire` (the same set-based
statements as the daily expiry job). Legacy users are opened from their credit history
(:mod:`.credit_replay`): one migration grant per credit that has something left, each
expiring ``months`` after its own date, the lapsed ones expired now; ``users.credits`` is
then recalculated to the live credits. The rollback steps put everything back with new
entries: the ledger stays append-only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, connections
from django.db.models import Q, Sum
from django.utils import timezone

from ledger import clock
from ledger.actors import Actor
from ledger.models import CreditAccount, Customer, EntryType, Grant, GrantKind, LedgerEntry, OwnerKind, Workspace
from ledger.services.accounts import account_open
from ledger.services.expiry import lots_expire
from ledger.services.grants import grant_apply, grant_void
from ledger.services.postings import Posting, account_lock, debt_settle, entry_append, request_hash

from ..exceptions import RollbackRefused
from ..models import LegacyUser
from .credit_replay import credits_replay
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
    """What opening a legacy user did: the account, the lots granted ([grant id, amount,
    expires_at ISO, credits expired now]), the credits still live (users.credits after),
    and how users.credits compared with the transactions."""

    account_id: int
    lots: list[list]
    live: int
    expired: int
    transactions_net: int
    difference: int


def user_transactions(*, user_ids: list[int]) -> dict[int, list[tuple[int, int, datetime]]]:
    """The legacy ``credit_transactions`` of these users ((id, amount, created_at) each),
    in one query; empty when the table does not exist."""
    if not user_ids or "credit_transactions" not in connection.introspection.table_names():
        return {}
    marks = ", ".join(["%s"] * len(user_ids))
    found: dict[int, list[tuple[int, int, datetime]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "user_id", "id", "amount", "created_at" FROM "credit_transactions" '
                       f'WHERE "user_id" IN ({marks}) ORDER BY "user_id", "created_at", "id"', list(user_ids))
        for user_id, pk, amount, created_at in cursor.fetchall():
            if timezone.is_naive(created_at):  # SQLite keeps datetimes as naive UTC text
                created_at = created_at.replace(tzinfo=UTC)
            found.setdefault(user_id, []).append((pk, amount, created_at))
    return found


def transactions_count(*, using: str = "default") -> int:
    """Rows of the legacy ``credit_transactions`` table (0 when it does not exist)."""
    connection_ = connections[using]
    if "credit_transactions" not in connection_.introspection.table_names():
        return 0
    with connection_.cursor() as cursor:
        cursor.execute('SELECT COUNT(*) FROM "credit_transactions"')
        return cursor.fetchone()[0]


def users_opened(*, user_ids: list[int]) -> set[int]:
    """The users among ``user_ids`` an earlier run already opened (one query)."""
    opened = Grant.objects.filter(source=SOURCE, source_id__in=[str(pk) for pk in user_ids])
    return {int(pk) for pk in opened.values_list("source_id", flat=True).distinct()}


def user_opening_lots(*, user: LegacyUser, transactions: list, workspace: Workspace, months: int, at: datetime,
                      actor: Actor) -> Opening:
    """Open the user's account (a product user in ``workspace``) from their credit history:
    one migration grant per lot :func:`credits_replay` leaves, effective at its credit and
    expiring ``months`` later; the lapsed ones expire now with entries. Then set
    ``users.credits`` to the live credits (balances exclude expired credits)."""
    replay = credits_replay(transactions=transactions, balance=user.credits, signup_at=user.created_at,
                            months=months)
    customer, _ = Customer.objects.get_or_create(
        workspace=workspace, external_id=str(user.pk), defaults={"email": user.email}
    )
    opened = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.CUSTOMER, owner_id=customer.pk)
    account = account_lock(account_id=opened.pk)
    granted = []
    for lot in replay.lots:
        posting = Posting(
            actor=actor, source=SOURCE, source_id=str(user.pk),
            description=f"Opening balance of legacy user {user.pk}: {lot.remaining} credits of {lot.source_id}",
            idempotency_key=f"{SOURCE}:{user.pk}:{lot.source_id}",
            fingerprint=request_hash(op="opening", user=user.pk, lot=lot.source_id, credits=lot.remaining),
        )
        grant, _ = grant_apply(
            account=account, amount=lot.remaining, kind=GrantKind.MIGRATION, posting=posting,
            effective_from=lot.credited_at, expires_at=lot.expires_at, reason=f"users.credits opening ({lot.source_id})",
        )
        granted.append(grant)
    lapsed = [grant.pk for grant in granted if grant.expires_at <= at]
    _, expired, _ = lots_expire(lot_ids=lapsed, at=at, actor=actor) if lapsed else (0, 0, 0)
    live = sum(grant.remaining for grant in granted if grant.expires_at > at)
    LegacyUser.objects.filter(pk=user.pk).update(credits=live)
    lots = [[grant.pk, grant.amount, grant.expires_at.isoformat(), grant.remaining if grant.pk in lapsed else 0]
            for grant in granted]
    return Opening(account.pk, lots, live, expired, replay.transactions_net, replay.difference)


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


def users_off_opening(*, records: list[tuple[str, dict, dict]], live: bool = True) -> list[str]:
    """Opened users (``(row key, old, new)`` of their records) whose opening grants do not
    add up to their old ``users.credits``, whose ``users.credits`` is not the recalculated
    value, or (``live``: right after opening) whose unexpired grants do not hold it."""
    ids = {key.split(":")[1]: (old, new) for key, old, new in records}
    grants = Grant.objects.filter(source=SOURCE, source_id__in=list(ids)).values_list("source_id")
    granted = dict(grants.annotate(total=Sum("amount")))
    holding = dict(grants.filter(expired_at__isnull=True, voided_at__isnull=True).annotate(total=Sum("remaining")))
    credits = {str(pk): value for pk, value in LegacyUser.objects.filter(pk__in=list(ids)).values_list("pk", "credits")}
    problems = []
    for user, (old, new) in ids.items():
        if granted.get(user, 0) != old["credits"]:
            problems.append(f"user {user}: users.credits was {old['credits']} but the opening grants add up to "
                            f"{granted.get(user, 0)}")
        if credits.get(user) != new["credits"]:
            problems.append(f"user {user}: users.credits is {credits.get(user)}, recalculated as {new['credits']}")
        if live and holding.get(user, 0) != new["credits"]:
            problems.append(f"user {user}: live opening grants hold {holding.get(user, 0)}, users.credits "
                            f"{new['credits']}")
    return problems


def user_opening_void(*, user_id: int, old: dict, new: dict, keep: bool, actor: Actor, run_id: int) -> int:
    """Undo a user's opening (each void its own transaction, so call it outside one): void the live opening lots (a
    ``void`` entry each; lots since expired or voided are left) and put ``users.credits``
    back. Spent credits or a ``users.credits`` changed since refuse, unless ``keep``: then
    only the unspent part is voided and a changed ``users.credits`` is left as it is.
    Returns the credits voided."""
    live = [lot[0] for lot in new["lots"] if not lot[3]]
    lots = Grant.objects.filter(pk__in=live, voided_at__isnull=True, expired_at__isnull=True).order_by("pk")
    spent = [lot.pk for lot in lots if lot.remaining < lot.amount]
    changed = not LegacyUser.objects.filter(pk=user_id, credits=new["credits"]).exists()
    if (spent or changed) and not keep:
        raise RollbackRefused(f"user:{user_id}: opening credits spent or users.credits changed since the check",
                              [f"user:{user_id}"])
    voided = 0
    for lot in lots:
        voided += lot.remaining
        grant_void(grant_id=lot.pk, actor=actor, reason=f"Rollback of migration run #{run_id}",
                         idempotency_key=f"{SOURCE}-rollback:{lot.pk}")
    if not changed:
        LegacyUser.objects.filter(pk=user_id).update(credits=old["credits"])
    return voided
