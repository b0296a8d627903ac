"""USD (and UAH) billing balances to ledger credits, and back (billing migration guide).

``billing_user_convert`` runs inside a batch transaction of ``billing-usd-to-credits``:
one user's balances become one never-expiring migration grant, the converted balances are
zeroed and the conversion is logged, all in the caller's transaction (a savepoint per user).
``billing_user_revert`` undoes one logged conversion through the ledger's public services.

Rounding: credits = credits_round(balance × rate) (ledger.amounts: half away from zero),
Decimal end to end. A balance converting to 0 credits is not converted (and not zeroed).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction

from ledger import clock
from ledger.actors import Actor
from ledger.amounts import MAX_AMOUNT, credits_round
from ledger.models import CreditAccount, Customer, EntryType, Grant, GrantKind, LedgerEntry, OwnerKind, Workspace
from ledger.services.accounts import account_open, account_overdraft_set
from ledger.services.adjustments import adjustment_create
from ledger.services.grants import grant_apply, grant_void
from ledger.services.postings import Posting, account_lock, entry_replay, request_hash

from ..billing_models import BillingMigrationLog, BillingMigrationStatus, LegacyUserBilling
from ..exceptions import InvalidParams, RollbackRefused

#: ``source`` of migration grants and entries; their ``source_id`` is the legacy user id.
SOURCE = "billing_usd_to_credits"
DEFAULT_WORKSPACE = "default"
DEBT, UNSPENT = "debt", "unspent"
_CENT = Decimal("0.01")
_MAX_RATE = Decimal(10**6)


def rate_parse(value: object, *, option: str) -> Decimal:
    """Return a rate as a positive, finite Decimal; InvalidParams names the option."""
    refusal = f"{option} must be a positive, finite number (credits per unit of currency, e.g. 1.0), got {value!r}"
    if isinstance(value, bool) or isinstance(value, float) or value is None:
        raise InvalidParams(refusal)
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidParams(refusal) from None
    if not rate.is_finite() or rate <= 0:
        raise InvalidParams(refusal)
    if rate > _MAX_RATE:
        raise InvalidParams(f"{refusal} (at most {_MAX_RATE})")
    return rate


@dataclass(frozen=True)
class Conversion:
    """What one user's balances convert to; parts converting to 0 credits stay unconverted."""

    usd: Decimal
    uah: Decimal
    usd_credits: int
    uah_credits: int

    @property
    def credits(self) -> int:
        return self.usd_credits + self.uah_credits


def billing_user_label(*, user_id: str, email: str | None) -> str:
    """Return how outputs name a user: ``User: email (user_id)``, or the id alone."""
    return f"User: {email} ({user_id})" if email else f"User: {user_id}"


def conversion_plan(*, row: LegacyUserBilling, rate: Decimal, uah_rate: Decimal | None) -> Conversion:
    usd, uah = Decimal(row.balance_usd), Decimal(row.balance_uah)
    usd_credits = credits_round(usd * rate) if usd > 0 else 0
    uah_credits = credits_round(uah * uah_rate) if uah > 0 and uah_rate is not None else 0
    return Conversion(usd=usd, uah=uah, usd_credits=usd_credits, uah_credits=uah_credits)


def conversion_description(*, plan: Conversion, rate: str, uah_rate: str | None) -> str:
    """Return the entry's description, e.g. "Migrated from user_billing: $100.00 USD → 100
    credits (rate: 1.0x)"."""
    parts = [f"${plan.usd:.2f} USD"] if plan.usd_credits else []
    if plan.uah_credits:
        parts.append(f"₴{plan.uah:.2f} UAH")
    rates = [f"rate: {rate}x"] + ([f"UAH rate: {uah_rate}x"] if plan.uah_credits else [])
    return f"Migrated from user_billing: {' + '.join(parts)} → {plan.credits} credits ({', '.join(rates)})"


def _customer_account(*, workspace: Workspace, row: LegacyUserBilling) -> CreditAccount:
    customer = Customer.objects.filter(workspace=workspace, external_id=row.user_id).first()
    if customer is None:
        customer = Customer.objects.create(workspace=workspace, external_id=row.user_id, email=row.email or "")
    account = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.CUSTOMER, owner_id=customer.pk)
    return account_lock(account_id=account.pk)


def billing_workspace(slug: str) -> Workspace:
    """Return the target workspace, creating it (in the caller's transaction) if needed."""
    workspace = Workspace.objects.filter(slug=slug).first()
    return workspace or Workspace.objects.create(slug=slug, name=slug)


def billing_user_convert(*, row: LegacyUserBilling, plan: Conversion, workspace: Workspace, run_id: int,
                         rate: str, uah_rate: str | None, actor: Actor) -> BillingMigrationLog:
    """Grant the user's converted credits (never expiring, kind migration), zero the
    converted balances and log it, in the caller's transaction, exactly once per run."""
    if plan.credits > MAX_AMOUNT:
        raise InvalidParams(f"{row.user_id}: {plan.credits} credits is above the ledger maximum {MAX_AMOUNT}")
    account = _customer_account(workspace=workspace, row=row)
    fingerprint = request_hash(op=SOURCE, user=row.user_id, credits=plan.credits)
    key = f"{SOURCE}:{row.user_id}:{run_id}"
    previous = entry_replay(account=account, key=key, fingerprint=fingerprint)
    if previous is not None:
        return BillingMigrationLog.objects.get(grant_id=previous.lot_id)
    posting = Posting(actor=actor, description=conversion_description(plan=plan, rate=rate, uah_rate=uah_rate),
                      source=SOURCE, source_id=row.user_id, idempotency_key=key, fingerprint=fingerprint)
    lot, _ = grant_apply(account=account, amount=plan.credits, kind=GrantKind.MIGRATION, posting=posting,
                         expires_at=None, reason=f"USD billing migration of {row.user_id}")
    zeroed = {"balance_usd": Decimal("0.00")} if plan.usd_credits else {}
    if plan.uah_credits:
        zeroed["balance_uah"] = Decimal("0.00")
    LegacyUserBilling.objects.filter(pk=row.pk).update(**zeroed)
    return BillingMigrationLog.objects.create(
        run_id=run_id, user_id=row.user_id, email=row.email or "", old_balance_usd=plan.usd, old_balance_uah=plan.uah,
        usd_rate=Decimal(rate), uah_rate=Decimal(uah_rate) if uah_rate else None,
        usd_zeroed=bool(plan.usd_credits), uah_zeroed=bool(plan.uah_credits), new_credits=plan.credits,
        account=account, grant=lot, migrated_at=clock.now(),
    )


def billing_outcomes_log(*, run_id: int, outcomes: list[tuple[LegacyUserBilling, str, str]]) -> None:
    """Log the users a batch did not convert (``failed`` or ``skipped``), each with its
    reason and old balances, in the caller's transaction: the log holds every outcome."""
    now = clock.now()
    BillingMigrationLog.objects.bulk_create([
        BillingMigrationLog(run_id=run_id, user_id=row.user_id, email=row.email or "", status=status, reason=reason,
                            old_balance_usd=row.balance_usd, old_balance_uah=row.balance_uah, usd_rate=rate,
                            migrated_at=now)
        for row, status, reason, rate in outcomes
    ])


def billing_spent(*, log: BillingMigrationLog) -> int:
    """Return how many of the log's migrated credits were spent (0 once voided)."""
    grant = log.grant
    return 0 if grant.voided_at is not None else grant.amount - grant.remaining


def _debt_reverse(*, log: BillingMigrationLog, spent: int, actor: Actor) -> None:
    """Take back the spent part with an adjustment that may put the account in debt,
    raising its overdraft limit just enough (audited) to allow it."""
    key = f"{SOURCE}-rollback-debt:{log.grant_id}"
    if not LedgerEntry.objects.filter(account_id=log.account_id, idempotency_key=key).exists():
        account = CreditAccount.objects.get(pk=log.account_id)
        needed = spent - account.balance
        if needed > account.overdraft_limit:
            account_overdraft_set(account_id=account.pk, limit=needed, actor=actor,
                                  reason=f"Rollback of billing migration run #{log.run_id}: spent credits become debt")
    adjustment_create(account_id=log.account_id, amount=-spent, actor=actor, idempotency_key=key,
                      reason=f"Rollback of billing migration run #{log.run_id}: {spent} migrated credits spent since")


def _restored(amount: Decimal, *, zeroed: bool, fraction: Decimal) -> Decimal:
    if not zeroed:
        return Decimal("0.00")
    return (amount * fraction).quantize(_CENT, rounding=ROUND_HALF_UP)


def billing_user_revert(*, log: BillingMigrationLog, actor: Actor, settle: str | None) -> dict:
    """Undo one logged conversion, idempotently: void the migration grant; restore the
    zeroed balances (``unspent``: pro rata of the unspent credits; ``debt``: in full, the
    spent credits taken back as debt). Refuses spent credits without ``settle``."""
    if log.status == BillingMigrationStatus.ROLLED_BACK:
        return {"users_restored": 0}
    spent = billing_spent(log=log)
    if spent and settle not in (DEBT, UNSPENT):
        raise RollbackRefused(f"{billing_user_label(user_id=log.user_id, email=log.email)}: {spent} of {log.new_credits} migrated credits spent since",
                              [log.user_id])
    void = grant_void(grant_id=log.grant_id, actor=actor, idempotency_key=f"{SOURCE}-rollback:{log.grant_id}",
                      reason=f"Rollback of billing migration run #{log.run_id}")
    unspent = -void.entry.amount if void.entry is not None and void.entry.entry_type == EntryType.VOID else 0
    spent = log.new_credits - unspent
    fraction = Decimal(1)
    if spent and settle == DEBT:
        _debt_reverse(log=log, spent=spent, actor=actor)
    elif spent:
        fraction = Decimal(unspent) / Decimal(log.new_credits)
    usd = _restored(log.old_balance_usd, zeroed=log.usd_zeroed, fraction=fraction)
    uah = _restored(log.old_balance_uah, zeroed=log.uah_zeroed, fraction=fraction)
    with transaction.atomic():
        row = LegacyUserBilling.objects.select_for_update().get(pk=log.user_id)
        # Added back, not overwritten: anything the product wrote since stays.
        LegacyUserBilling.objects.filter(pk=row.pk).update(balance_usd=row.balance_usd + usd, balance_uah=row.balance_uah + uah)
        BillingMigrationLog.objects.filter(pk=log.pk).update(
            status=BillingMigrationStatus.ROLLED_BACK, rolled_back_at=clock.now(), settle=settle or "",
            restored_usd=usd, restored_uah=uah,
        )
    return {"users_restored": 1, "credits_voided": unspent, "credits_spent": spent}


def billing_grants_credits(*, grant_ids: list[int]) -> int:
    """Return the credits of the given live migration grants (for conservation checks)."""
    return sum(Grant.objects.filter(pk__in=grant_ids, voided_at__isnull=True).values_list("amount", flat=True))
