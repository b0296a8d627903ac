"""Expiring lots at their expiry time, in set-based batches that never load every due lot.

Each batch is one transaction over whole accounts: read the next ``batch_size`` due lots
(keyset on expires_at, id) to pick their accounts, lock those accounts ordered by id, then,
in three statements, expire every due lot of those accounts: append one EXPIRE entry per lot
(sequence and balance chain computed with window functions), move the accounts' balances,
totals and sequence, and zero the lots. Re-reading "due" under the account locks makes a
second worker (or a second run) skip what the first already expired.

Why whole accounts: lots of many accounts often lapse at the same moment (a campaign's
grants), so batches of lots in expiry order touched each account once per batch. Every
touch rewrites the account row and runs its deferred balance check (which sums all its
lots) at commit; with 10,000 accounts x 100 lots that was a million account updates and
checks for a million lots, against 10,000 when each account is done in one go.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce

from .. import clock
from ..actors import Actor
from ..models import CreditAccount, EntryType, Grant
from .hooks import accounts_written

_INSERT_ENTRIES = """
INSERT INTO ledger_ledgerentry (
    account_id, seq, entry_type, amount, balance_before, balance_after, lot_id, refund_of_id,
    source, source_id, description, actor, actor_user_id, idempotency_key, request_hash, created_at
)
SELECT d.account_id, a.entry_seq + d.rn, %s, -d.remaining, a.balance - d.running + d.remaining,
       a.balance - d.running, d.id, NULL, 'expiry', CAST(d.id AS TEXT),
       'Expiry of grant #' || CAST(d.id AS TEXT), %s, NULL, NULL, '', %s
FROM (
    SELECT g.id, g.account_id, g.remaining,
           ROW_NUMBER() OVER (PARTITION BY g.account_id ORDER BY g.id) AS rn,
           SUM(g.remaining) OVER (PARTITION BY g.account_id ORDER BY g.id ROWS UNBOUNDED PRECEDING) AS running
    FROM ledger_grant g
    WHERE g.account_id IN ({ids}) AND g.remaining > 0 AND g.expires_at <= %s{lots}
) d
JOIN ledger_creditaccount a ON a.id = d.account_id
ORDER BY d.account_id, d.rn
"""

_UPDATE_ACCOUNTS = """
UPDATE ledger_creditaccount
SET balance = ledger_creditaccount.balance - d.total,
    total_expired = ledger_creditaccount.total_expired + d.total,
    entry_seq = ledger_creditaccount.entry_seq + d.lots,
    updated_at = %s
FROM (
    SELECT g.account_id, SUM(g.remaining) AS total, COUNT(*) AS lots
    FROM ledger_grant g
    WHERE g.account_id IN ({ids}) AND g.remaining > 0 AND g.expires_at <= %s{lots}
    GROUP BY g.account_id
) d
WHERE ledger_creditaccount.id = d.account_id
"""


@dataclass
class ExpiryRun:
    lots: int = 0
    credits: int = 0
    accounts: int = 0  # accounts touched, counted once per batch
    batches: int = 0


def _due(at: datetime):
    return Grant.objects.filter(remaining__gt=0, expires_at__isnull=False, expires_at__lte=at)


@transaction.atomic(durable=True)
def _batch_expire(*, account_ids: list[int], at: datetime, actor: Actor) -> tuple[int, int, int]:
    """Expire every lot of ``account_ids`` still due once the accounts are locked; return
    (lots, credits, accounts)."""
    return lots_expire(account_ids=account_ids, at=at, actor=actor)


def lots_expire(
    *, at: datetime, actor: Actor, account_ids: list[int] | None = None, lot_ids: list[int] | None = None
) -> tuple[int, int, int]:
    """Expire due lots inside the caller's transaction: every due lot of ``account_ids``, or
    only those among ``lot_ids`` when given (their accounts, if ``account_ids`` is not).
    One EXPIRE entry each, lots zeroed and stamped, balances and totals moved, accounts
    locked here by id. Returns (lots, credits, accounts); lots not due are left alone."""
    if account_ids is None:
        account_ids = sorted(set(Grant.objects.filter(pk__in=lot_ids or []).values_list("account_id", flat=True)))
    if not account_ids:
        return 0, 0, 0
    locked = list(CreditAccount.objects.select_for_update().filter(pk__in=account_ids).order_by("pk")
                  .values_list("pk", "owner_kind"))
    due = _due(at).filter(account_id__in=account_ids)
    lot_filter, lot_params = "", []
    if lot_ids is not None:
        due = due.filter(pk__in=lot_ids)
        lot_filter, lot_params = f" AND g.id IN ({', '.join(['%s'] * len(lot_ids))})", list(lot_ids)
    summary = due.aggregate(
        lots=Count("id"), credits=Coalesce(Sum("remaining"), Value(0)), accounts=Count("account_id", distinct=True)
    )
    if not summary["lots"]:
        return 0, 0, 0
    placeholders = ", ".join(["%s"] * len(account_ids))
    with connection.cursor() as cursor:
        # Entries first and accounts second: both read the lots' remaining before it is zeroed.
        cursor.execute(
            _INSERT_ENTRIES.format(ids=placeholders, lots=lot_filter),
            [EntryType.EXPIRE, actor.label, at, *account_ids, at, *lot_params],
        )
        cursor.execute(_UPDATE_ACCOUNTS.format(ids=placeholders, lots=lot_filter), [at, *account_ids, at, *lot_params])
    due.update(remaining=0, expired_at=at)
    accounts_written(locked)
    return summary["lots"], summary["credits"], summary["accounts"]


def grants_expire_due(*, actor: Actor, at: datetime | None = None, batch_size: int | None = None) -> ExpiryRun:
    """Expire every lot whose expiry time has passed: one EXPIRE entry for its remaining
    credits, the lot zeroed and stamped, the account's balance and totals moved.

    Idempotent (a lot is expired once however often or in how many workers this runs) and
    bounded in memory (one page of ids at a time, keyset on expires_at then id). A batch
    takes the accounts of the next ``batch_size`` due lots (so at most that many accounts)
    and expires all of their due lots in one transaction; the lots before the cursor are
    therefore all done when the cursor moves on.
    """
    at = at or clock.now()
    size = batch_size or settings.CREDITS_EXPIRY_BATCH_SIZE
    run = ExpiryRun()
    cursor: tuple | None = None
    while True:
        page = _due(at)
        if cursor is not None:
            # The ">=" bound lets the index scan start at the cursor instead of walking the
            # entries of lots already expired; the OR then skips the ties already done.
            page = page.filter(expires_at__gte=cursor[0]).filter(
                Q(expires_at__gt=cursor[0]) | Q(expires_at=cursor[0], pk__gt=cursor[1])
            )
        rows = list(page.order_by("expires_at", "pk").values_list("expires_at", "pk", "account_id")[:size])
        if not rows:
            return run
        account_ids = sorted({account_id for _, _, account_id in rows})
        lots, credits, accounts = _batch_expire(account_ids=account_ids, at=at, actor=actor)
        run.lots += lots
        run.credits += credits
        run.accounts += accounts
        run.batches += 1
        cursor = rows[-1][:2]
