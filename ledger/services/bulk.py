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

:func:`lots_void` voids many lots of many accounts (a rollback of a migration) in a few
statements, with the entries grant_void writes; :func:`values_update` sets columns of many
rows to per-row values in one statement.

An opening with amount 0 opens the account only (entries are never 0): entry_seq 0,
balance 0, no lot. Owners must not have an account yet: the unique owner constraints make
the INSERT fail (and the caller's transaction with it) otherwise; callers decide which
owners are new (e.g. by reading the accounts first, under lock).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import NamedTuple
from uuid import UUID

from django.db import connection, transaction
from django.db.models import JSONField, Model
from django.utils import timezone

from .. import clock
from ..actors import Actor
from ..amounts import MAX_AMOUNT
from ..exceptions import InvalidInput
from ..models import CreditAccount, EntryType, Grant, LedgerEntry, OwnerKind
from .grants import grant_validate
from .hooks import accounts_written
from .postings import Posting, request_hash
from .rows import ids_in

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
    """What an opening wrote: the account's id, and its lot's and entry's (None for amount 0)."""

    account_id: int
    lot_id: int | None
    entry_id: int | None
    amount: int


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
    account_ids, lot_ids, entry_ids = _insert(openings, at)
    granted = iter(zip(lot_ids, entry_ids))
    return [
        AccountOpened(account_id, *(next(granted) if opening.amount else (None, None)), opening.amount)
        for opening, account_id in zip(openings, account_ids)
    ]


def _account_values(opening: AccountOpening) -> dict:
    owner = _OWNER_FIELD[opening.owner_kind]
    return {
        "workspace_id": opening.workspace_id, "owner_kind": opening.owner_kind,
        **({owner: opening.owner_id} if owner else {}),
        "balance": opening.amount, "total_earned": opening.amount, "entry_seq": 1 if opening.amount else 0,
        **opening.account_fields,
    }


def _lot_values(opening: AccountOpening, at: datetime) -> dict:
    posting = opening.posting
    return {
        "kind": opening.kind, "amount": opening.amount, "remaining": opening.amount, "priority": opening.priority,
        "effective_from": at, "expires_at": opening.expires_at, "reason": opening.reason,
        "created_by_id": posting.actor.user_id, "actor": posting.actor.label,
        "idempotency_key": posting.idempotency_key, "source": posting.source, "source_id": posting.source_id,
    }


def _entry_values(opening: AccountOpening) -> dict:
    posting = opening.posting
    return {
        "seq": 1, "entry_type": EntryType.GRANT, "amount": opening.amount, "balance_before": 0,
        "balance_after": opening.amount, "source": posting.source, "source_id": posting.source_id,
        "description": posting.description, "actor": posting.actor.label, "actor_user_id": posting.actor.user_id,
        "idempotency_key": posting.idempotency_key, "request_hash": posting.fingerprint,
    }


def _insert(openings: list[AccountOpening], at: datetime) -> tuple[list, list, list]:
    """Three multi-row INSERTs (accounts, lots, entries) through values_insert."""
    account_ids = values_insert(CreditAccount, [_account_values(opening) for opening in openings])
    granted = [(opening, account_id) for opening, account_id in zip(openings, account_ids) if opening.amount]
    lot_ids = values_insert(Grant, [{"account_id": account_id, **_lot_values(opening, at)}
                                    for opening, account_id in granted])
    entry_ids = values_insert(LedgerEntry, [{"account_id": account_id, "lot_id": lot_id, **_entry_values(opening)}
                                           for (opening, account_id), lot_id in zip(granted, lot_ids)])
    return account_ids, lot_ids, entry_ids


def values_insert(
    model: type[Model], rows: list[dict], *, ignore_conflicts: bool = False, returning: tuple[str, ...] = ("id",)
) -> list | None:
    """Insert ``rows`` ({attname: value}; a missing column takes its field default, and
    ``auto_now`` / ``auto_now_add`` columns the current time) in one statement; return the
    new ids in the rows' order. Like bulk_create, no signals and no ``save()``.
    ``ignore_conflicts``: rows that break a unique constraint are skipped, as with
    bulk_create; what is returned is then about the rows inserted only, in no order, on
    PostgreSQL, and None elsewhere (unknown: read the rows back). ``returning``: other
    fields (attnames) to return, as one tuple per row, e.g. ``("id", "external_id")`` to
    tell which inserted row is which.

    On PostgreSQL the rows travel as one JSON document of the columns that differ between
    them (``INSERT ... SELECT FROM json_to_recordset(%s) ... RETURNING id``); a column with
    the same value in every row (kinds, actors, timestamps, defaults) is one parameter. So
    neither model instances nor per-value parameters are built (both cost more client CPU
    than the database spends inserting), and each value is read by its column's type.
    Rows come back in the document's order, as Django's own bulk_create relies on.
    Elsewhere: bulk_create.
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        instances = [model(**row) for row in rows]
        model.objects.bulk_create(instances, ignore_conflicts=ignore_conflicts)
        if ignore_conflicts:
            return None
        return [_returned(instance, returning) for instance in instances]
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    varying, selected, params = [], [], []
    for f, column in zip(fields, _columns(fields, rows)):
        json_field = isinstance(f, JSONField)
        if json_field and f.encoder is not None:  # the field's own encoder decides how its value is written
            column = [None if value is None else json.loads(json.dumps(value, cls=f.encoder)) for value in column]
        cast, first = f.cast_db_type(connection), column[0]
        if column.count(first) == len(column) and len(set(map(type, column))) == 1:
            selected.append(f"%s::{cast}")
            params.append(json.dumps(first) if json_field and first is not None else first)
        else:
            varying.append((f, column, cast))
            selected.append(quote(f.column))
    if varying:
        names = tuple(f.column for f, _, _ in varying)
        document = [dict(zip(names, values)) for values in zip(*(column for _, column, _ in varying))]
        definitions = ", ".join(f"{quote(f.column)} {cast}" for f, _, cast in varying)
        source = f" FROM json_to_recordset(%s) AS document({definitions})"
        params.append(json.dumps(document, default=_json_scalar))
    else:
        source = f" FROM generate_series(1, {len(rows)})"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
        f" SELECT {', '.join(selected)}{source}"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
        + " RETURNING " + ", ".join(quote(model._meta.get_field(name).column) for name in returning)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows_back = cursor.fetchall()
    return [row[0] for row in rows_back] if returning == ("id",) else [tuple(row) for row in rows_back]


def values_update(model: type[Model], rows: list[dict], fields: tuple[str, ...]) -> None:
    """Set ``fields`` (attnames) of many rows, each to its own values (``rows``: dicts with
    ``id`` and those fields), in one statement. On PostgreSQL the rows travel as one JSON
    document (``UPDATE ... FROM json_to_recordset``), each value read by its column's
    type; elsewhere Django's bulk_update (one UPDATE with CASE per field)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update([model(**row) for row in rows], list(fields))
        return
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(name) for name in fields]
    pk = model._meta.pk
    definitions = ", ".join(f"{quote(f.column)} {f.cast_db_type(connection)}" for f in [pk, *columns])
    assignments = ", ".join(f"{quote(f.column)} = d.{quote(f.column)}" for f in columns)
    document = [{f.column: row[f.attname] for f in [pk, *columns]} for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments}"
            f" FROM json_to_recordset(%s) AS d({definitions}) WHERE t.{quote(pk.column)} = d.{quote(pk.column)}",
            [json.dumps(document, default=_json_scalar)],
        )


class Param(NamedTuple):
    """A value insert_select passes as a parameter (cast to its column's type)."""

    value: object


def insert_select(
    model: type[Model], expressions: dict[str, "str | Param"], source: str, *, returning: tuple[str, ...] = ("id",)
) -> tuple[str, list]:
    """Compose ``INSERT INTO <table> (every column) SELECT ... <source> RETURNING ...``
    (PostgreSQL) and return it with its parameters, for set-based writes built into a
    larger statement (a data-modifying CTE).

    Each column is its SQL expression from ``expressions`` (attname -> SQL over
    ``source``, e.g. ``"s.remaining"``, or a :class:`Param`; the primary key only when
    given, e.g. ids drawn beforehand with :func:`id_sequence`), else its field's default as
    one parameter, as values_insert gives a missing column (the current time for auto_now
    fields). ``source`` takes no parameters. ``returning`` names attnames. The caller
    places the parameters where the SQL goes.
    """
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.attname in expressions]
    unknown = set(expressions) - {f.attname for f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
    selected, params = [], []
    for f, (default,) in zip(fields, _columns(fields, [{}])):
        expression = expressions.get(f.attname, Param(default))
        if not isinstance(expression, Param):
            selected.append(expression)
            continue
        selected.append(f"%s::{f.cast_db_type(connection)}")
        value = expression.value
        params.append(json.dumps(value) if isinstance(f, JSONField) and value is not None else value)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
        f" SELECT {', '.join(selected)} {source}"
        f" RETURNING {', '.join(quote(model._meta.get_field(name).column) for name in returning)}"
    )
    return sql, params


@cache
def id_sequence(model: type[Model]) -> str:
    """The name of the sequence behind the model's id column (PostgreSQL), to draw ids
    with ``nextval`` before the rows that take them are inserted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column])
        return cursor.fetchone()[0]


def _returned(instance: Model, returning: tuple[str, ...]):
    return instance.pk if returning == ("id",) else tuple(getattr(instance, name) for name in returning)


def _columns(fields: list, rows: list[dict]) -> list[list]:
    """Each field's values, one per row: the row's own, else the field's default (the
    current time for auto_now fields). Rows that all name the same fields (the usual
    case) are read column by column without a lookup per value."""
    stamp = timezone.now()
    names = rows[0].keys()
    uniform = all(row.keys() == names for row in rows)
    columns = []
    for f in fields:
        if uniform and f.attname in names:
            columns.append([row[f.attname] for row in rows])
            continue
        default = stamp if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
        columns.append([row.get(f.attname, default) for row in rows] if not uniform else [default] * len(rows))
    return columns


def _json_scalar(value: object) -> object:
    """Write the values JSON has no type for as the text their column's type reads:
    datetimes and dates in ISO 8601 (full precision), decimals and UUIDs as strings."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    raise TypeError(f"values_insert cannot write {type(value).__name__} values")


def lots_void(*, idempotency_keys: dict[int, str | None], actor: Actor, reason: str) -> tuple[int, int]:
    """Void what is left of many lots (``idempotency_keys``: lot id -> the key of its void
    entry) inside the caller's transaction, in a fixed number of statements whatever their
    number: their accounts locked in id order, one VOID entry per lot with credits left
    (chained per account, as grant_void writes it), the lots zeroed and stamped, the
    accounts' balance, total_expired and sequence moved. Lots already voided or expired
    are left alone. Returns (lots voided, credits voided)."""
    lot_ids = ids_in(list(idempotency_keys))
    accounts = {
        pk: [balance, seq, expired, kind] for pk, balance, seq, expired, kind in CreditAccount.objects
        .select_for_update().filter(pk__in=Grant.objects.filter(pk__in=lot_ids).values("account_id")).order_by("pk")
        .values_list("pk", "balance", "entry_seq", "total_expired", "owner_kind")
    }
    lots = list(Grant.objects.filter(pk__in=lot_ids, voided_at__isnull=True, expired_at__isnull=True)
                .order_by("account_id", "pk").values_list("pk", "account_id", "remaining"))
    if not lots:
        return 0, 0
    now, entries = clock.now(), []
    for pk, account_id, remaining in lots:
        if not remaining:
            continue
        state = accounts[account_id]
        entries.append({
            "account_id": account_id, "seq": state[1] + 1, "entry_type": EntryType.VOID, "amount": -remaining,
            "balance_before": state[0], "balance_after": state[0] - remaining, "lot_id": pk,
            "description": f"Void of grant #{pk}: {reason}", "actor": actor.label, "actor_user_id": actor.user_id,
            "idempotency_key": idempotency_keys[pk], "request_hash": request_hash(op="void", grant=pk),
        })
        state[0], state[1], state[2] = state[0] - remaining, state[1] + 1, state[2] + remaining
    Grant.objects.filter(pk__in=ids_in([pk for pk, _, _ in lots])).update(remaining=0, voided_at=now)
    values_insert(LedgerEntry, entries)
    moved, stamp = sorted({entry["account_id"] for entry in entries}), timezone.now()
    values_update(CreditAccount, [
        {"id": pk, "balance": accounts[pk][0], "entry_seq": accounts[pk][1], "total_expired": accounts[pk][2],
         "updated_at": stamp} for pk in moved
    ], ("balance", "entry_seq", "total_expired", "updated_at"))
    accounts_written((pk, accounts[pk][3]) for pk in moved)
    return len(lots), sum(-entry["amount"] for entry in entries)
