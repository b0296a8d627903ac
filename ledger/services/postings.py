"""The posting core every ledger write goes through, inside the caller's transaction.

These functions assume an open transaction with the account row locked by
:func:`account_lock`. They are the building blocks of the public services (grants, debits,
refunds, voids, adjustments) and of jobs that write in batches (expiry, refills, usage,
migrations), so that every balance change is made and explained the same way.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ..actors import Actor
from ..exceptions import AccountNotFound, IdempotencyConflict, InsufficientCredits, NotFound
from ..models import Allocation, CreditAccount, Grant, LedgerEntry
from ..totals import total_delta
from .hooks import account_written
from .rows import row_insert, rows_fetch


def account_lock(*, account_id: object, workspace_id: int | None = None) -> CreditAccount:
    """Lock and return the account; a missing or foreign-workspace one raises AccountNotFound."""
    assert transaction.get_connection().in_atomic_block, "account_lock needs a transaction"
    pk = account_pk(account_id)
    # Every write starts here: one SQL statement, without building an ORM query.
    sql, params = "SELECT {columns} FROM {table} WHERE id = %s", [pk]
    if workspace_id is not None:
        sql, params = f"{sql} AND workspace_id = %s", [pk, workspace_id]
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    for account in rows_fetch(CreditAccount, sql, params):
        return account
    raise AccountNotFound(account_id)


def account_pk(account_id: object) -> int:
    """Return ``account_id`` as a possible account id; anything else raises AccountNotFound."""
    try:
        pk = int(account_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AccountNotFound(account_id) from None
    if not 0 < pk < 2**63:  # beyond bigint: no such row (the ORM answered so too)
        raise AccountNotFound(account_id)
    return pk


def request_hash(**params: object) -> str:
    """Fingerprint the parameters of a request, for idempotency-key reuse checks."""
    payload = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def entry_replay(*, account: CreditAccount, key: str | None, fingerprint: str) -> LedgerEntry | None:
    """Return the entry an earlier call with this key wrote, or None for a new key.

    The same key with different parameters raises IdempotencyConflict.
    """
    if not key:
        return None
    # Every write asks this and almost every answer is "new key": one indexed lookup of
    # two columns, without building an ORM query; the full entry only for a replay.
    with connection.cursor() as cursor:
        cursor.execute(_REPLAY_SQL, [account.pk, key])
        found = cursor.fetchone()
    if found is None:
        return None
    if found[1] != fingerprint:
        raise IdempotencyConflict(key)
    return LedgerEntry.objects.get(pk=found[0])


_REPLAY_SQL = (
    f"SELECT id, request_hash FROM {LedgerEntry._meta.db_table} WHERE account_id = %s AND idempotency_key = %s"
)


@dataclass(frozen=True)
class Posting:
    """What an entry says besides its amount: why, who, where from, and its key."""

    actor: Actor
    description: str = ""
    source: str = ""
    source_id: str = ""
    idempotency_key: str | None = None
    fingerprint: str = ""


def entry_append(
    *,
    account: CreditAccount,
    entry_type: str,
    amount: int,
    posting: Posting,
    lot: Grant | None = None,
    refund_of: LedgerEntry | None = None,
) -> LedgerEntry:
    """Append one entry and move the account's balance, totals and sequence with it.

    The caller has already moved lots and debt so that, after this, the account's balance
    equals its lots' remaining minus its debt. Saves the account, then runs the write
    hooks of its owner kind (hooks.py) in the same transaction.
    """
    field, delta = total_delta(entry_type, amount)
    entry = row_insert(LedgerEntry(
        account=account,
        seq=account.entry_seq + 1,
        entry_type=entry_type,
        amount=amount,
        balance_before=account.balance,
        balance_after=account.balance + amount,
        lot=lot,
        refund_of=refund_of,
        source=posting.source,
        source_id=posting.source_id,
        description=posting.description,
        actor=posting.actor.label,
        actor_user_id=posting.actor.user_id,
        idempotency_key=posting.idempotency_key,
        request_hash=posting.fingerprint,
    ))
    account.entry_seq = entry.seq
    account.balance = entry.balance_after
    setattr(account, field, getattr(account, field) + delta)
    account.updated_at = timezone.now()  # as auto_now would
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CreditAccount._meta.db_table} SET entry_seq = %s, balance = %s, debt = %s, {field} = %s,"
            " updated_at = %s WHERE id = %s",
            [account.entry_seq, account.balance, account.debt, getattr(account, field),
             connection.ops.adapt_datetimefield_value(account.updated_at), account.pk],
        )
    account_written(account)
    return entry


def lots_spendable(*, account: CreditAccount, at: datetime):
    """Return the account's lots a debit may draw from, in consumption order: priority,
    then earliest expiry (never-expiring last), then oldest.

    :data:`_SPENDABLE_SQL` is the same query in SQL, for the hot path of every debit.
    """
    return (
        Grant.objects.filter(
            account=account,
            remaining__gt=0,
            voided_at__isnull=True,
            expired_at__isnull=True,
            effective_from__lte=at,
        )
        .exclude(expires_at__lte=at)
        .order_by("priority", F("expires_at").asc(nulls_last=True), "id")
    )


_SPENDABLE_SQL = """
    SELECT {columns} FROM {table}
     WHERE account_id = %s AND remaining > 0 AND voided_at IS NULL AND expired_at IS NULL
       AND effective_from <= %s AND (expires_at IS NULL OR expires_at > %s)
     ORDER BY priority, CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, id
"""
_LOT_REMAINING_SQL = f"UPDATE {Grant._meta.db_table} SET remaining = %s WHERE id = %s"


def lots_draw(*, account: CreditAccount, amount: int, at: datetime) -> list[tuple[Grant | None, int]]:
    """Take ``amount`` from the spendable lots in order, the rest as debt within the
    overdraft limit. Updates lots and the in-memory account debt; returns the draws
    ((lot, amount), lot None for debt). Raises InsufficientCredits and changes nothing if
    the overdraft limit would be passed."""
    draws: list[tuple[Grant | None, int]] = []
    left = amount
    spendable = 0
    moment = connection.ops.adapt_datetimefield_value(at)
    for lot in rows_fetch(Grant, _SPENDABLE_SQL, [account.pk, moment, moment]):
        spendable += lot.remaining
        if left:
            take = min(left, lot.remaining)
            draws.append((lot, take))
            left -= take
        else:
            break
    headroom = account.overdraft_limit - account.debt
    if left > headroom:
        raise InsufficientCredits(
            account_id=account.pk,
            balance=account.balance,
            available=spendable + max(headroom, 0),
            amount=amount,
        )
    for lot, take in draws:
        lot.remaining -= take
    if draws:
        with connection.cursor() as cursor:
            cursor.executemany(_LOT_REMAINING_SQL, [(lot.remaining, lot.pk) for lot, _ in draws])
    if left:
        account.debt += left
        draws.append((None, left))
    return draws


def allocations_record(*, entry: LedgerEntry, draws: list[tuple[Grant | None, int]]) -> list[Allocation]:
    """Record which lots (or debt) an entry drew from."""
    allocations = [Allocation(entry=entry, lot=lot, amount=take) for lot, take in draws]
    if len(allocations) == 1:  # the usual debit: one lot, one plain INSERT
        return [row_insert(allocations[0])]
    return Allocation.objects.bulk_create(allocations)


def debt_settle(*, account: CreditAccount, lot: Grant) -> int:
    """Pay the account's debt from a new lot before it is saved; return what was settled."""
    settled = min(account.debt, lot.remaining)
    account.debt -= settled
    lot.remaining -= settled
    return settled


def owned_row_lock(
    *, model: type, pk: object, label: str, account_id: object = None, workspace_id: int | None = None
):
    """Lock the account that owns row ``pk`` of ``model`` (a lot or an entry), then return
    (account, row). A missing row, or one of another account or workspace, is NotFound."""
    try:
        owner = model.objects.filter(pk=int(pk)).values_list("account_id", flat=True).first()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        owner = None
    if owner is None or (account_id is not None and str(owner) != str(account_id)):
        raise NotFound(f"{label} {pk!r} does not exist", field=label)
    try:
        account = account_lock(account_id=owner, workspace_id=workspace_id)
    except AccountNotFound:
        raise NotFound(f"{label} {pk!r} does not exist", field=label) from None
    return account, model.objects.get(pk=int(pk))  # type: ignore[arg-type]
