"""Ledger writes for many accounts at once, in a fixed number of statements.

The posting core (``postings.py``) writes one account at a time: lock, read, append, save,
about seven statements per write. Jobs that create many *new* accounts (data migrations,
imports) do not need that: a new account has no lots, no debt and no entries, so its first
entry is known in advance (seq 1, balance_before 0) and its balance, totals and entry_seq
can be written in the same INSERT that creates it.

:func:`accounts_open_granted` opens N accounts, each with one opening grant (a lot and its
``grant`` entry), in three bulk INSERTs (accounts, lots, entries) whatever N is. It runs in
the caller's transaction and keeps every ledger invariant the per-row services keep:

- each account's ``balance = total_earned - total_spent - total_expired`` (check constraint);
- each first entry has seq 1, balance_before 0 and balance_after = its amount (the chain
  trigger on PostgreSQL);
- at commit each account's balance = its last entry's balance_after = its lots' remaining
  minus its debt (0) (the deferred balance trigger on PostgreSQL);
- the grant and the entry carry the posting's idempotency key and request hash, so the
  per-row services see them as the first result of that key.

An opening with amount 0 opens the account only (entries are never 0): entry_seq 0,
balance 0, no lot. Owners must not have an account yet: the unique owner constraints make
the INSERT fail (and the caller's transaction with it) otherwise; callers decide which
owners are new (e.g. by reading the accounts first, under lock).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from .. import clock
from ..amounts import MAX_AMOUNT
from ..exceptions import InvalidInput
from ..models import CreditAccount, EntryType, Grant, LedgerEntry, OwnerKind
from .grants import grant_validate
from .postings import Posting

_OWNER_FIELD = {
    OwnerKind.CUSTOMER: "customer_id",
    OwnerKind.API_KEY: "api_key_id",
    OwnerKind.IDENTITY: "identity_id",
    OwnerKind.WORKSPACE: None,
}
#: Account fields an opening may set besides the owner (the refill policy).
ACCOUNT_FIELDS = ("refill_amount", "refill_interval", "refill_day", "last_refill_at", "overdraft_limit")


@dataclass(frozen=True)
class AccountOpening:
    """One new account and its opening grant (none when ``amount`` is 0)."""

    workspace_id: int
    owner_kind: str
    owner_id: int | None
    amount: int
    kind: str
    posting: Posting
    reason: str = ""
    priority: int = 50
    expires_at: datetime | None = None
    account_fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AccountOpened:
    """What an opening wrote: the account, and its lot and entry (None for amount 0)."""

    account: CreditAccount
    lot: Grant | None
    entry: LedgerEntry | None


def _validate(opening: AccountOpening, at: datetime) -> None:
    if opening.owner_kind not in _OWNER_FIELD:
        raise InvalidInput("owner_kind", f"must be one of {', '.join(_OWNER_FIELD)}")
    if _OWNER_FIELD[opening.owner_kind] is not None and opening.owner_id is None:
        raise InvalidInput("owner_id", f"is required for a {opening.owner_kind} account")
    amount = opening.amount
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        raise InvalidInput("amount", f"must be a whole number of credits from 0 to {MAX_AMOUNT}")
    unknown = set(opening.account_fields) - set(ACCOUNT_FIELDS)
    if unknown:
        raise InvalidInput("account_fields", f"cannot set {', '.join(sorted(unknown))}")
    if amount:
        grant_validate(kind=opening.kind, priority=opening.priority, effective_from=at,
                       expires_at=opening.expires_at, reason=opening.reason)


def accounts_open_granted(*, openings: list[AccountOpening]) -> list[AccountOpened]:
    """Open one account per opening with its opening grant, in three bulk INSERTs, inside
    the caller's transaction; return what was written, in the openings' order.

    Validates every opening first (InvalidInput naming the field; nothing written). The
    owners must not have accounts yet (an IntegrityError otherwise). See the module
    docstring for the invariants kept.
    """
    assert transaction.get_connection().in_atomic_block, "accounts_open_granted needs a transaction"
    assert connection.features.can_return_rows_from_bulk_insert, "bulk inserts must return ids"
    if not openings:
        return []
    at = clock.now()
    for opening in openings:
        _validate(opening, at)
    accounts = []
    for opening in openings:
        owner = _OWNER_FIELD[opening.owner_kind]
        accounts.append(CreditAccount(
            workspace_id=opening.workspace_id, owner_kind=opening.owner_kind,
            **({owner: opening.owner_id} if owner else {}),
            balance=opening.amount, total_earned=opening.amount, entry_seq=1 if opening.amount else 0,
            **opening.account_fields,
        ))
    CreditAccount.objects.bulk_create(accounts)
    granted = [(opening, account) for opening, account in zip(openings, accounts) if opening.amount]
    lots = [
        Grant(
            account=account, kind=opening.kind, amount=opening.amount, remaining=opening.amount,
            priority=opening.priority, effective_from=at, expires_at=opening.expires_at, reason=opening.reason,
            created_by_id=opening.posting.actor.user_id, actor=opening.posting.actor.label,
            idempotency_key=opening.posting.idempotency_key, source=opening.posting.source,
            source_id=opening.posting.source_id,
        )
        for opening, account in granted
    ]
    Grant.objects.bulk_create(lots)
    entries = [
        LedgerEntry(
            account=account, seq=1, entry_type=EntryType.GRANT, amount=opening.amount, balance_before=0,
            balance_after=opening.amount, lot=lot, source=opening.posting.source,
            source_id=opening.posting.source_id, description=opening.posting.description,
            actor=opening.posting.actor.label, actor_user_id=opening.posting.actor.user_id,
            idempotency_key=opening.posting.idempotency_key, request_hash=opening.posting.fingerprint,
        )
        for (opening, account), lot in zip(granted, lots)
    ]
    LedgerEntry.objects.bulk_create(entries)
    written = {id(account): (lot, entry) for (_, account), lot, entry in zip(granted, lots, entries)}
    return [AccountOpened(account, *written.get(id(account), (None, None))) for account in accounts]
