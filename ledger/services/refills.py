"""Refills (per-key credits): on each refill day an account's balance is reset to its refill
amount (the legacy keys table's semantics: a reset, not a top-up), once per period however
often and whenever in the day the job runs."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from .. import clock
from ..actors import Actor
from ..models import CreditAccount, EntryType, Grant, GrantKind, RefillInterval
from .hooks import account_written
from .postings import Posting, account_lock, allocations_record, debt_settle, entry_append, lots_draw


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def refill_period_start(*, interval: str, day: int | None, today: date) -> date | None:
    """Return the local date on which the refill period containing ``today`` began: today
    for daily refills; for monthly ones the latest refill day on or before today, where
    day 29-31 falls on a shorter month's last day. None when the account has no refill."""
    if interval == RefillInterval.DAILY:
        return today
    if interval != RefillInterval.MONTHLY or not day:
        return None
    this_month = _clamped(today.year, today.month, day)
    if this_month <= today:
        return this_month
    previous = today.replace(day=1) - timedelta(days=1)
    return _clamped(previous.year, previous.month, day)


def refill_due_since(*, account: CreditAccount, at: datetime) -> datetime | None:
    """Return the start (aware, in the workspace's time zone) of the period the account is
    due a refill for at ``at``, or None when it is not due."""
    if account.refill_amount is None:
        return None
    zone = ZoneInfo(account.workspace.timezone or "UTC")
    today = at.astimezone(zone).date()
    start_day = refill_period_start(interval=account.refill_interval, day=account.refill_day, today=today)
    if start_day is None:
        return None
    start = datetime.combine(start_day, time.min, tzinfo=zone)
    if account.last_refill_at is not None and account.last_refill_at >= start:
        return None
    return start


@dataclass(frozen=True)
class RefillResult:
    account_id: int
    refilled: bool
    amount: int  # the entry's signed amount (0: no change in the lot, or not due)


def _refill_lot(account: CreditAccount) -> Grant | None:
    return (
        Grant.objects.filter(account=account, kind=GrantKind.REFILL, expired_at__isnull=True, voided_at__isnull=True)
        .order_by("-id")
        .first()
    )


def refill_apply(*, account: CreditAccount, target: int, posting: Posting, at: datetime) -> int:
    """Refill a locked account in the caller's transaction, as the legacy per-key credits
    do: what is left is *reset* to ``target``, never topped up on top of it. Stamps
    ``last_refill_at``; one REFILL entry for the difference (either sign; none when the
    balance already is ``target``). Credits added go into the account's refill lot
    (created on the first refill, never expiring), paying any debt first; credits removed
    are drawn from the lots in consumption order, with allocations. The account's write
    hooks run either way (the stamp moved). Returns the difference."""
    account.last_refill_at = at
    account.save(update_fields=["last_refill_at", "updated_at"])
    difference = target - account.balance
    if difference > 0:
        lot = _refill_lot(account)
        if lot is None:
            lot = Grant(account=account, kind=GrantKind.REFILL, amount=difference, remaining=difference,
                        effective_from=at, reason="Refill", actor=posting.actor.label)
        else:
            lot.remaining += difference
            lot.amount = max(lot.amount, lot.remaining)  # amount >= remaining always
        debt_settle(account=account, lot=lot)
        lot.save()
        entry_append(account=account, entry_type=EntryType.REFILL, amount=difference, posting=posting, lot=lot)
    elif difference < 0:
        draws = lots_draw(account=account, amount=-difference, at=clock.now())  # what is spendable now
        entry = entry_append(account=account, entry_type=EntryType.REFILL, amount=difference, posting=posting)
        allocations_record(entry=entry, draws=draws)
    else:
        account_written(account)
    return difference


@transaction.atomic(durable=True)
def account_refill(*, account_id: int, actor: Actor, at: datetime | None = None) -> RefillResult:
    """Refill the account if it is due: reset its balance to the refill amount (refill_apply)
    and stamp the refill time. Exactly once per period: a second call, or a second worker,
    finds it not due."""
    at = at or clock.now()
    account = account_lock(account_id=account_id)
    period_start = refill_due_since(account=account, at=at)
    if period_start is None:
        return RefillResult(account_id=account.pk, refilled=False, amount=0)
    day = period_start.date().isoformat()
    posting = Posting(actor=actor, description=f"Refill to {account.refill_amount}", source="refill", source_id=day,
                      idempotency_key=f"refill:{day}")
    amount = refill_apply(account=account, target=account.refill_amount or 0, posting=posting, at=at)
    return RefillResult(account_id=account.pk, refilled=True, amount=amount)


@dataclass
class RefillRun:
    refilled: int = 0
    credits_added: int = 0
    credits_removed: int = 0


def accounts_refill_due(*, actor: Actor, at: datetime | None = None, batch_size: int | None = None) -> RefillRun:
    """Refill every account that is due, one short transaction per account, walking accounts
    with a refill policy by id (keyset). Safe to run often and in several workers at once."""
    at = at or clock.now()
    size = batch_size or settings.CREDITS_REFILL_BATCH_SIZE
    candidates = CreditAccount.objects.exclude(refill_interval="").filter(refill_amount__isnull=False)
    run = RefillRun()
    last_id = 0
    while True:
        ids = list(candidates.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return run
        for pk in ids:
            result = account_refill(account_id=pk, actor=actor, at=at)
            run.refilled += result.refilled
            run.credits_added += max(result.amount, 0)
            run.credits_removed += max(-result.amount, 0)
        last_id = ids[-1]
