"""Spending credits (debits) and giving them back to the lots they came from (refunds)."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .. import clock
from ..actors import Actor
from ..amounts import amount_parse
from ..exceptions import AccountNotFound, IdempotencyConflict, InsufficientCredits, InvalidInput, InvalidState
from ..models import Allocation, CreditAccount, EntryType, Grant, GrantKind, LedgerEntry
from .hooks import hooked_owner_kinds
from .postings import (
    Posting,
    account_lock,
    account_pk,
    allocations_record,
    entry_append,
    entry_replay,
    lots_draw,
    owned_row_lock,
    request_hash,
)
from .rows import prepared_cursor

#: Entry types whose allocations a refund may return.
REFUNDABLE_TYPES = {EntryType.DEBIT, EntryType.ADJUSTMENT}


@dataclass(frozen=True)
class DebitResult:
    entry: LedgerEntry
    allocations: list[Allocation]
    replayed: bool


def debit_apply(
    *, account: CreditAccount, amount: int, posting: Posting, entry_type: str = EntryType.DEBIT
) -> tuple[LedgerEntry, list[Allocation]]:
    """Draw ``amount`` from a locked account's lots (then debt within the overdraft limit),
    append the entry and record the allocations."""
    draws = lots_draw(account=account, amount=amount, at=clock.now())
    entry = entry_append(account=account, entry_type=entry_type, amount=-amount, posting=posting)
    return entry, allocations_record(entry=entry, draws=draws)


def debit_create(
    *,
    account_id: int,
    amount: object,
    actor: Actor,
    idempotency_key: str | None,
    workspace_id: int | None = None,
    description: str = "",
    source: str = "",
    source_id: str = "",
) -> DebitResult:
    """Debit the account exactly once per idempotency key.

    Draws lots by priority, earliest expiry, then age; a debit that would pass the
    overdraft limit raises InsufficientCredits and writes nothing. On PostgreSQL (unless
    settings.LEDGER_DEBIT_FAST_PATH is off) the whole debit is one statement, the
    ``ledger_debit`` function, with the same steps and rules as the posting core.
    """
    credits = amount_parse(amount)
    fingerprint = request_hash(op="debit", amount=credits, source=source, source_id=source_id)
    posting = Posting(
        actor=actor, description=description or "Debit", source=source, source_id=source_id,
        idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    if debit_fast_path() and connection.get_autocommit():
        # Outside any transaction the one statement is its own transaction: PostgreSQL
        # commits it (deferred checks included) before it answers, without BEGIN and COMMIT
        # round trips. In a caller's transaction, atomic(durable=True) refuses, as ever.
        done = _debit_statement(account_id=account_id, workspace_id=workspace_id, amount=credits, posting=posting)
        if done is not None:
            return done
        return _debit_durable(account_id=account_id, workspace_id=workspace_id, amount=credits, posting=posting,
                              statement=False)
    return _debit_durable(account_id=account_id, workspace_id=workspace_id, amount=credits, posting=posting,
                          statement=debit_fast_path())


@transaction.atomic(durable=True)
def _debit_durable(*, account_id: object, workspace_id: int | None, amount: int, posting: Posting,
                   statement: bool) -> DebitResult:
    if statement:
        done = _debit_statement(account_id=account_id, workspace_id=workspace_id, amount=amount, posting=posting)
        if done is not None:
            return done
    account = account_lock(account_id=account_id, workspace_id=workspace_id)
    previous = entry_replay(account=account, key=posting.idempotency_key, fingerprint=posting.fingerprint)
    if previous is not None:
        return _replayed(previous)
    entry, allocations = debit_apply(account=account, amount=amount, posting=posting)
    return DebitResult(entry=entry, allocations=allocations, replayed=False)


def debit_fast_path() -> bool:
    """Whether debit_create runs as the one-statement ``ledger_debit`` function (PostgreSQL)."""
    return connection.vendor == "postgresql" and settings.LEDGER_DEBIT_FAST_PATH


def _replayed(previous: LedgerEntry) -> DebitResult:
    # In the order the lots were drawn, as the first answer gave them.
    return DebitResult(entry=previous, allocations=list(previous.allocations.order_by("id")), replayed=True)


_DEBIT_SQL = "SELECT ledger_debit(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
#: The same, called only when the account's owner kind has no write hooks (hooks.py): for
#: the others no row comes back and the debit takes the posting core, where the hooks run
#: in the debit's transaction. The condition is an index lookup inside the same statement.
_DEBIT_UNHOOKED_SQL = f"{_DEBIT_SQL} FROM {CreditAccount._meta.db_table} WHERE id = %s AND owner_kind <> ALL(%s)"


def _debit_statement(
    *, account_id: object, workspace_id: int | None, amount: int, posting: Posting
) -> DebitResult | None:
    """debit_create in one round trip: ``ledger_debit`` (migrations 0011, 0012) locks, replays or
    draws, writes, and answers with what the result needs, so no row is read back. The
    statement is prepared on the connection after its first runs (see prepared_cursor).
    None, having written nothing, when the account is one whose writes have hooks (or
    does not exist): the caller then takes the posting core."""
    pk = account_pk(account_id)
    now = timezone.now()
    params = [pk, workspace_id, amount, posting.idempotency_key, posting.fingerprint, clock.now(), now,
              posting.source, posting.source_id, posting.description, posting.actor.label, posting.actor.user_id]
    hooked = hooked_owner_kinds()
    with prepared_cursor() as cursor:
        cursor.execute(*((_DEBIT_UNHOOKED_SQL, [*params, pk, hooked]) if hooked else (_DEBIT_SQL, params)))
        row = cursor.fetchone()
    if row is None:
        return None
    answer = row[0]
    outcome = answer[0]
    if outcome == _WRITTEN:
        return _debit_result(account_id=pk, amount=amount, posting=posting, now=now, answer=answer)
    if outcome == _REPLAYED:
        return _replayed(LedgerEntry.objects.get(pk=answer[1]))
    if outcome == _CONFLICT:
        raise IdempotencyConflict(posting.idempotency_key)
    if outcome == _INSUFFICIENT:
        raise InsufficientCredits(account_id=pk, balance=answer[1], available=answer[2], amount=amount)
    raise AccountNotFound(account_id)


# ledger_debit's first answer element (see sql/0012_debit_function_generic_plans.sql).
_WRITTEN, _REPLAYED, _CONFLICT, _INSUFFICIENT = 0, 1, 2, 3


#: Attribute names of the columns, in the order Model.from_db takes their values.
_ENTRY_COLUMNS = [field.attname for field in LedgerEntry._meta.concrete_fields]
_ALLOCATION_COLUMNS = [field.attname for field in Allocation._meta.concrete_fields]
_allocation_entry_cache = Allocation.entry.field.set_cached_value


def _debit_result(*, account_id: int, amount: int, posting: Posting, now, answer: list) -> DebitResult:
    """The entry and allocations ledger_debit wrote, as instances, from its answer.

    Built as the ORM builds fetched rows (``from_db``, positional values): a debit's client
    CPU is mostly Python, and keyword construction costs twice as much.
    """
    entry_id, seq, before = answer[1:4]
    values = {
        "id": entry_id, "account_id": account_id, "seq": seq, "entry_type": EntryType.DEBIT, "amount": -amount,
        "balance_before": before, "balance_after": before - amount, "lot_id": None, "refund_of_id": None,
        "source": posting.source, "source_id": posting.source_id, "description": posting.description,
        "actor": posting.actor.label, "actor_user_id": posting.actor.user_id,
        "idempotency_key": posting.idempotency_key, "request_hash": posting.fingerprint, "created_at": now,
    }
    alias = connection.alias
    entry = LedgerEntry.from_db(alias, None, [values[name] for name in _ENTRY_COLUMNS])
    count = (len(answer) - 4) // 3
    ids, lots, takes = answer[4:4 + count], answer[4 + count:4 + 2 * count], answer[4 + 2 * count:]
    allocations = []
    for pk, lot, take in zip(ids, lots, takes):
        row = {"id": pk, "entry_id": entry_id, "lot_id": lot, "amount": take, "refunded": 0}
        allocation = Allocation.from_db(alias, None, [row[name] for name in _ALLOCATION_COLUMNS])
        _allocation_entry_cache(allocation, entry)
        allocations.append(allocation)
    return DebitResult(entry=entry, allocations=allocations, replayed=False)


@dataclass(frozen=True)
class RefundResult:
    entry: LedgerEntry
    replayed: bool


def _refund_lot(*, account: CreditAccount, source: Grant | None, amount: int, now) -> Grant:
    """Create a lot for refunded credits that cannot go back into their own lot (it is
    gone, full, or they were debt). It keeps the source's priority and expiry: credits
    whose expiry has passed come back already due, so they are never spent and the next
    expiry run takes them, instead of living on with a fresh expiry."""
    expires_at = source.expires_at if source is not None else None
    effective_from = now if expires_at is None or expires_at > now else source.effective_from
    return Grant.objects.create(
        account=account, kind=GrantKind.REFUND, amount=amount, remaining=amount,
        priority=source.priority if source is not None else 50, effective_from=effective_from,
        expires_at=expires_at, reason="Refund", actor="system:refund",
    )


def refund_apply(*, account: CreditAccount, debit: LedgerEntry, amount: int) -> None:
    """Return ``amount`` of a debit, latest draw first: into its lots while they are active
    and have room, then against debt, and the rest into a new refund lot."""
    now = clock.now()
    left = amount
    allocations = list(debit.allocations.select_related("lot").order_by("-id"))
    touched_lots, touched_allocations = [], []
    for allocation in allocations:
        part = min(left, allocation.amount - allocation.refunded)
        if part <= 0:
            continue
        allocation.refunded += part
        touched_allocations.append(allocation)
        left -= part
        lot = allocation.lot
        if lot is None:
            settled = min(part, account.debt)
            account.debt -= settled
            part -= settled
        elif lot.is_active and (lot.expires_at is None or lot.expires_at > now):
            put = min(part, lot.amount - lot.remaining)
            lot.remaining += put
            touched_lots.append(lot)
            part -= put
        if part:
            _refund_lot(account=account, source=lot, amount=part, now=now)
        if not left:
            break
    Grant.objects.bulk_update(touched_lots, ["remaining"])
    Allocation.objects.bulk_update(touched_allocations, ["refunded"])


@transaction.atomic(durable=True)
def refund_create(
    *,
    debit_entry_id: int,
    actor: Actor,
    idempotency_key: str | None,
    reason: str,
    amount: object = None,
    account_id: int | None = None,
    workspace_id: int | None = None,
) -> RefundResult:
    """Refund all or part of a debit back into the lots it came from, exactly once per key."""
    if not reason.strip():
        raise InvalidInput("reason", "is required for a refund")
    account, debit = owned_row_lock(
        model=LedgerEntry, pk=debit_entry_id, label="entry", account_id=account_id, workspace_id=workspace_id
    )
    if debit.entry_type not in REFUNDABLE_TYPES or debit.amount >= 0:
        raise InvalidState(f"entry {debit.pk} is a {debit.entry_type}, not a debit", field="entry")
    refundable = sum(a.amount - a.refunded for a in debit.allocations.all())
    credits = refundable if amount is None else amount_parse(amount)
    fingerprint = request_hash(op="refund", entry=debit.pk, amount=credits)
    previous = entry_replay(account=account, key=idempotency_key, fingerprint=fingerprint)
    if previous is not None:
        return RefundResult(entry=previous, replayed=True)
    if credits <= 0 or credits > refundable:
        raise InvalidInput("amount", f"must be between 1 and {refundable}, what is left to refund of entry {debit.pk}")
    refund_apply(account=account, debit=debit, amount=credits)
    posting = Posting(
        actor=actor, description=f"Refund of entry #{debit.pk}: {reason}",
        source=debit.source, source_id=debit.source_id,
        idempotency_key=idempotency_key, fingerprint=fingerprint,
    )
    entry = entry_append(account=account, entry_type=EntryType.REFUND, amount=credits, posting=posting, refund_of=debit)
    return RefundResult(entry=entry, replayed=False)
