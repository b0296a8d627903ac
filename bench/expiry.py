"""Expiry: ``manage.py expire_credits`` over 1,000,000 due lots, against set-based SQL.

The data (:func:`bench.seed.due_lots_seed`): 10,000 accounts x 100 lots of 10 credits, all
due, lot n of every account expiring at the same second. Ours: the command in a process of
its own, timed from start to exit (Django start-up included). Baseline: the least SQL that
does the same job on the same rows, reseeded identically, with the same triggers installed,
in one transaction and without batching: one INSERT ... SELECT of an EXPIRE entry per due
lot (sequence and balance chain by window functions), one UPDATE of the accounts
(balance, total_expired, entry_seq) and one UPDATE zeroing the lots. Both end in the same
state, which the module checks; rate = lots / second.
"""
from __future__ import annotations

import time

import psycopg

from .harness import Context, Row, manage
from .seed import due_lots_seed, invariants_broken, vacuum_analyze

NAME = "expiry"
ACCOUNTS = 10_000
LOTS = 100

_DUE = "g.remaining > 0 AND g.expires_at IS NOT NULL AND g.expires_at <= now()"

SET_BASED = f"""
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, lot_id,
    source, source_id, description, actor, request_hash, created_at)
SELECT d.account_id, a.entry_seq + d.rn, 'expire', -d.remaining, a.balance - d.running + d.remaining,
       a.balance - d.running, d.id, 'expiry', d.id::text, 'Expiry of grant #' || d.id, 'system:bench', '', now()
FROM (SELECT g.id, g.account_id, g.remaining,
             row_number() OVER w AS rn, sum(g.remaining) OVER (w ROWS UNBOUNDED PRECEDING) AS running
        FROM ledger_grant g WHERE {_DUE}
      WINDOW w AS (PARTITION BY g.account_id ORDER BY g.id)) d
JOIN ledger_creditaccount a ON a.id = d.account_id
ORDER BY d.account_id, d.rn;
UPDATE ledger_creditaccount a
   SET balance = a.balance - d.total, total_expired = a.total_expired + d.total,
       entry_seq = a.entry_seq + d.lots, updated_at = now()
  FROM (SELECT g.account_id, sum(g.remaining) AS total, count(*) AS lots
          FROM ledger_grant g WHERE {_DUE} GROUP BY g.account_id) d
 WHERE a.id = d.account_id;
UPDATE ledger_grant g SET remaining = 0, expired_at = now() WHERE {_DUE}
"""

_STATE = """
SELECT (SELECT count(*) FROM ledger_ledgerentry WHERE entry_type = 'expire'),
       (SELECT count(*) FROM ledger_grant WHERE remaining > 0),
       (SELECT sum(total_expired) FROM ledger_creditaccount)
"""


def run(ctx: Context) -> list[Row]:
    accounts = ctx.size(ACCOUNTS, minimum=10)
    lots = accounts * LOTS
    details = ctx.details.setdefault(NAME, {"accounts": accounts, "lots_per_account": LOTS, "lots": lots})
    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        details["seed_s"] = round(due_lots_seed(conn, accounts=accounts, lots=LOTS), 1)
    started = time.perf_counter()
    manage(ctx.database_url, "expire_credits")
    ours = time.perf_counter() - started
    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        state_check(conn, lots)
        due_lots_seed(conn, accounts=accounts, lots=LOTS)
        started = time.perf_counter()
        with conn.transaction():
            for statement in SET_BASED.split(";"):
                conn.execute(statement)
        baseline = time.perf_counter() - started
        state_check(conn, lots)
        vacuum_analyze(conn)
    details.update(ours_s=round(ours, 2), set_based_s=round(baseline, 2))
    return [Row(
        benchmark="expire_credits vs set-based SQL", ours=lots / ours, baseline=lots / baseline, unit="lots/s",
        notes=f"{lots:,} due lots ({accounts:,} accounts x {LOTS}); ours {ours:.1f}s, set-based {baseline:.1f}s "
              f"(3 statements, 1 transaction, same triggers); target >= 0.50x",
    )]


def state_check(conn, lots: int) -> None:
    """Every lot expired exactly once: one EXPIRE entry each, none left, the ledger consistent."""
    expired, left, total = conn.execute(_STATE).fetchone()
    if (expired, left, total) != (lots, 0, lots * 10) or invariants_broken(conn):
        raise AssertionError(f"expiry left {expired} entries, {left} due lots, {total} credits expired; "
                             f"expected {lots}, 0, {lots * 10}")
