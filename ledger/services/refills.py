"""Refills (per-key credits): on each refill day an account's refill lot is set back to its
refill amount, once per period however often and whenever in the day the job runs."""
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
from .postings import Posting, account_lock, debt_settle, entry_append


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


def _refill_apply(*, account: CreditAccount, period_start: datetime, at: datetime, actor: Actor) -> int:
    target = account.refill_amount or 0
    lot = _refill_lot(account)
    before = lot.remaining if lot is not None else 0
    difference = target - before
    if lot is None and target:
        lot = Grant(account=account, kind=GrantKind.REFILL, amount=target, remaining=target,
                    effective_from=at, reason="Refill", actor=actor.label)
    elif lot is not None:
        lot.amount = target or lot.amount  # amount > 0 and amount >= remaining always
        lot.remaining = target
    if lot is not None and difference > 0:
        debt_settle(account=account, lot=lot)
    if lot is not None:
        lot.save()
    if difference:
        posting = Posting(
            actor=actor, description=f"Refill to {target}", source="refill",
            source_id=period_start.date().isoformat(),
            idempotency_key=f"refill:{period_start.date().isoformat()}",
        )
        entry_append(account=account, entry_type=EntryType.REFILL, amount=difference, posting=posting, lot=lot)
    account.last_refill_at = at
    account.save(update_fields=["last_refill_at", "updated_at"])
    return difference


@transaction.atomic(durable=True)
def account_refill(*, account_id: int, actor: Actor, at: datetime | None = None) -> RefillResult:
    """Refill the account if it is due: set its refill lot's remaining to the refill amount
    with one REFILL entry for the difference (either sign) and stamp the refill time.
    Exactly once per period: a second call, or a second worker, finds it not due."""
    at = at or clock.now()
    account = account_lock(account_id=account_id)
    period_start = refill_due_since(account=account, at=at)
    if period_start is None:
        return RefillResult(account_id=account.pk, refilled=False, amount=0)
    amount = _refill_apply(account=account, period_start=period_start, at=at, actor=actor)
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
