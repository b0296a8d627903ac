"""A key-credits batch as one set-based statement (PostgreSQL).

A first run's batch, where no valid key's API key has an account yet, writes exactly what
the row-by-row path writes (``key_accounts_migrate`` and ``_row`` in key_credits.py):
per valid key an account owned by its API key with balance, totals and refill policy, a
never-expiring migration lot and its first entry for a positive remainder, and one run
record per row of the batch, in the batch's order. Python only locks and classifies the
rows (skipped, failed, valid, with the same rules and messages) and makes sure workspaces
and API keys exist; the accounts, lots, entries and records are one ``INSERT ... SELECT``
chain (data-modifying CTEs) over the locked ``keys`` rows, so no model instance, outcome
or JSON document is built per key. The ledger's triggers and constraints check the rows as
they check any others.

Anything else (another database, a dry run, a batch with keys whose API key already has an
account: a re-run after a rollback) goes the row-by-row way. ``MIGRATIONS_SET_BASED_BATCHES``
(setting) turns this off; tests run both ways over the same keys and compare.
"""
from __future__ import annotations

import json
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from ledger import clock
from ledger.actors import Actor
from ledger.models import (
    CreditAccount,
    EntryType,
    Grant,
    GrantKind,
    LedgerEntry,
    OwnerKind,
    RefillInterval,
    Workspace,
)
from ledger.services.bulk import Param, id_sequence, insert_select
from ledger.services.postings import request_hash

from ..models import LegacyKey, RecordAction, RunRecord
from ..services.key_credits import SOURCE, key_batch_prepare
from .base import RecordedRows, RowOutcome


class KeyRow(NamedTuple):
    """A locked legacy key's columns (what the row-by-row path reads from LegacyKey)."""

    id: str
    workspace_id: str
    remaining_requests: int | None
    refill_day: int | None
    refill_amount: int | None
    last_refill_at: object
    deleted_at_m: int | None


def set_based_batches() -> bool:
    """Whether key-credits batches may run as one statement (PostgreSQL, setting on)."""
    return connection.vendor == "postgresql" and settings.MIGRATIONS_SET_BASED_BATCHES


def keys_lock(ids: list[str]) -> dict[str, KeyRow]:
    """Lock the batch's keys in id order and read their columns, without model instances."""
    table = connection.ops.quote_name(LegacyKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, workspace_id, remaining_requests, refill_day, refill_amount, last_refill_at, deleted_at_m"
            f" FROM {table} WHERE id IN (SELECT json_array_elements_text(%s::json)) ORDER BY id FOR UPDATE",
            [json.dumps(ids)],
        )
        return {row[0]: KeyRow(*row) for row in cursor.fetchall()}


def _literal(value: str) -> str:
    """A constant of ours (enum values, the source name) as an SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


#: ``last_refill_at`` as Python's ``datetime.isoformat()`` writes a UTC time (the row-by-row
#: records hold that text): microseconds only when there are some.
_ISO = (
    "to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    " || CASE WHEN date_part('microseconds', {t})::bigint %% 1000000 <> 0"
    " THEN to_char({t} AT TIME ZONE 'UTC', '.US') ELSE '' END || '+00:00'"
)


def _statement(*, run_id: int, actor: Actor, at, document: str) -> tuple[str, list]:
    """The batch's one statement and its parameters (see the module docstring).

    Account and lot ids are drawn in ``src`` (``nextval``, in the batch's order), so that
    each INSERT reads ``src`` alone: joining what one INSERT returns to another's would be
    planned on guesses (a CTE has no statistics) and turn quadratic.
    """
    idempotency = f"{_literal(SOURCE + ':')} || s.key_id || ':0'"
    accounts_sql, accounts_params = insert_select(CreditAccount, {
        "id": "s.account_id",
        "workspace_id": "s.workspace_id", "owner_kind": _literal(OwnerKind.API_KEY), "api_key_id": "s.api_key_id",
        "balance": "s.remaining", "total_earned": "s.remaining",
        "entry_seq": "CASE WHEN s.remaining > 0 THEN 1 ELSE 0 END",
        "refill_amount": "s.refill_amount",
        "refill_interval": f"CASE WHEN s.refill_amount IS NULL THEN {_literal(RefillInterval.NONE)}"
                           f" WHEN s.refill_day IS NULL THEN {_literal(RefillInterval.DAILY)}"
                           f" ELSE {_literal(RefillInterval.MONTHLY)} END",
        "refill_day": "CASE WHEN s.refill_amount IS NULL THEN NULL ELSE s.refill_day END",
        "last_refill_at": "s.last_refill_at",
    }, "FROM src s ORDER BY s.n")
    lots_sql, lots_params = insert_select(Grant, {
        "id": "s.lot_id", "account_id": "s.account_id", "kind": _literal(GrantKind.MIGRATION),
        "amount": "s.remaining", "remaining": "s.remaining", "effective_from": Param(at), "expires_at": "NULL",
        "reason": "'Key credits migration of ' || s.key_id", "created_by_id": Param(actor.user_id),
        "actor": Param(actor.label), "idempotency_key": idempotency, "source": Param(SOURCE), "source_id": "s.key_id",
    }, "FROM src s WHERE s.lot_id IS NOT NULL ORDER BY s.n")
    entries_sql, entries_params = insert_select(LedgerEntry, {
        "account_id": "s.account_id", "seq": "1", "entry_type": _literal(EntryType.GRANT), "amount": "s.remaining",
        "balance_before": "0", "balance_after": "s.remaining", "lot_id": "s.lot_id", "refund_of_id": "NULL",
        "source": Param(SOURCE), "source_id": "s.key_id", "description": "'Migrated from legacy key ' || s.key_id",
        "actor": Param(actor.label), "actor_user_id": Param(actor.user_id), "idempotency_key": idempotency,
        "request_hash": "s.request_hash",
    }, "FROM src s WHERE s.lot_id IS NOT NULL ORDER BY s.n")
    records_sql, records_params = insert_select(RunRecord, {
        "run_id": Param(run_id), "row_key": "i.key_id", "action": "i.action",
        "old": "CASE WHEN s.n IS NULL THEN i.old::jsonb ELSE jsonb_build_object("
               "'workspace_id', s.slug, 'remaining_requests', s.remaining, 'refill_day', s.refill_day,"
               " 'refill_amount', s.refill_amount, 'last_refill_at', " + _ISO.format(t="s.last_refill_at") + ","
               " 'account_opened', true, 'account_policy', NULL) END",
        "new": "CASE WHEN s.n IS NULL THEN NULL ELSE jsonb_build_object("
               "'account_id', s.account_id, 'grant_id', s.lot_id, 'credits', s.remaining) END",
        "message": "COALESCE(i.message, '')",
    }, "FROM input i LEFT JOIN src s ON s.n = i.n ORDER BY i.n")
    keys_table = connection.ops.quote_name(LegacyKey._meta.db_table)
    sql = f"""
        WITH input AS (
            SELECT * FROM json_to_recordset(%s::json) AS i(n int, key_id text, api_key_id bigint, workspace_id bigint,
                                                          request_hash text, action text, message text, old jsonb)
        ), src AS MATERIALIZED (
            SELECT v.*, nextval({_literal(id_sequence(CreditAccount))}::regclass) AS account_id,
                   CASE WHEN v.remaining > 0 THEN nextval({_literal(id_sequence(Grant))}::regclass) END AS lot_id
              FROM (SELECT i.n, i.key_id, i.api_key_id, i.workspace_id, i.request_hash, k.workspace_id AS slug,
                           k.remaining_requests AS remaining, k.refill_day, k.refill_amount, k.last_refill_at
                      FROM input i JOIN {keys_table} k ON k.id = i.key_id
                     WHERE i.action = {_literal(RecordAction.CHANGED)}
                     ORDER BY i.n) AS v
        ), accounts AS ({accounts_sql}
        ), lots AS ({lots_sql}
        ), entries AS ({entries_sql}
        ), records AS ({records_sql})
        SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM accounts), (SELECT count(*) FROM lots),
               (SELECT count(*) FROM entries), COALESCE(sum(s.remaining), 0)::bigint,
               count(*) FILTER (WHERE s.remaining = 0),
               count(*) FILTER (WHERE s.refill_amount IS NOT NULL OR s.last_refill_at IS NOT NULL),
               COALESCE(array_agg(s.key_id ORDER BY s.n) FILTER (WHERE s.lot_id IS NOT NULL), '{{}}'),
               COALESCE(array_agg(s.account_id ORDER BY s.n) FILTER (WHERE s.lot_id IS NOT NULL), '{{}}')
          FROM src s
    """
    return sql, [document, *accounts_params, *lots_params, *entries_params, *records_params]


def key_batch_migrate_set_based(
    *, ids: list[str], ctx, refusal
) -> list[RowOutcome | RecordedRows] | None:
    """Migrate a batch of key ids in one statement, records included; return what it did
    (RecordedRows per action), or None when the batch must go row by row (a valid key's
    API key already has an account). ``refusal(key, pk)`` is the operation's own rule for
    rows it skips or fails (a RowOutcome), None for a valid key. In the caller's transaction.
    """
    locked = keys_lock(ids)
    refused: dict[str, RowOutcome] = {}
    valid: list[KeyRow] = []
    for pk in ids:
        outcome = refusal(locked.get(pk), pk)
        if outcome is None:
            valid.append(locked[pk])
        else:
            refused[pk] = outcome
    batch = key_batch_prepare(keys=valid) if valid else None
    if batch is not None and batch.accounts:
        return None
    # The rows travel as one JSON document (json.dumps is C; quoting arrays value by value
    # into the SQL text is not): n keeps the batch's order.
    rows = []
    for n, pk in enumerate(ids):
        outcome = refused.get(pk)
        if outcome is None:
            key = locked[pk]
            workspace_id = batch.workspace_ids[key.workspace_id]
            rows.append({"n": n, "key_id": pk, "api_key_id": batch.api_key_ids[(workspace_id, pk)],
                         "workspace_id": workspace_id, "action": RecordAction.CHANGED,
                         "request_hash": request_hash(op="key-credits", key=pk, amount=key.remaining_requests)})
        else:
            rows.append({"n": n, "key_id": pk, "action": outcome.action, "message": outcome.message, "old": outcome.old})
    sql, params = _statement(run_id=ctx.run.pk, actor=ctx.actor, at=clock.now(), document=json.dumps(rows))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        records, changed, grants, entries, credits, zero, policies, granted_keys, granted_accounts = cursor.fetchone()
    if records != len(ids) or changed != len(valid) or entries != grants:
        raise RuntimeError(f"set-based key-credits batch wrote {records} records, {changed} accounts, {grants} lots "
                           f"and {entries} entries for {len(ids)} rows and {len(valid)} valid keys")
    done = [RecordedRows(
        RecordAction.CHANGED, changed,
        totals={"credits": credits, "grants": grants, "accounts_opened": changed, "zero_balance": zero,
                "refill_policies": policies},
        keys=granted_keys, details={"account_ids": granted_accounts},
    )] if changed else []
    for action in (RecordAction.SKIPPED, RecordAction.FAILED):
        rows = [outcome for outcome in refused.values() if outcome.action == action]
        if rows:
            totals: dict[str, int] = {}
            for outcome in rows:
                for name, value in outcome.totals.items():
                    totals[name] = totals.get(name, 0) + value
            done.append(RecordedRows(action, len(rows), totals=totals))
    return done


def conservation_sums(*, keys: list[str], account_ids: list[int]) -> tuple[dict[str, int], dict[str, int]]:
    """Per workspace slug, the credits ``keys`` hold in the keys table and the credits of
    the live migration lots they were granted (through their accounts, ``account_ids``):
    key-credits' conservation check in one statement (PostgreSQL). The lists go as arrays,
    whose length the planner sees: the tables grew within the run, their statistics may
    not have, and a guessed count turns the joins into scans per row."""
    quote = connection.ops.quote_name
    sql = f"""
        SELECT 'held', k.workspace_id, sum(k.remaining_requests)::bigint
          FROM {quote(LegacyKey._meta.db_table)} k WHERE k.id = ANY(%s::text[]) GROUP BY 2
        UNION ALL
        SELECT 'granted', w.slug, sum(g.amount)::bigint
          FROM {quote(Grant._meta.db_table)} g
          JOIN {quote(CreditAccount._meta.db_table)} a ON a.id = g.account_id
          JOIN {quote(Workspace._meta.db_table)} w ON w.id = a.workspace_id
         WHERE g.account_id = ANY(%s::bigint[]) AND g.kind = %s AND g.source = %s
           AND g.source_id = ANY(%s::text[]) AND g.voided_at IS NULL
         GROUP BY 2
    """
    sums: dict[str, dict[str, int]] = {"held": {}, "granted": {}}
    with connection.cursor() as cursor:
        cursor.execute(sql, [keys, account_ids, GrantKind.MIGRATION, SOURCE, keys])
        for side, slug, credits in cursor.fetchall():
            sums[side][slug] = credits
    return sums["held"], sums["granted"]
