"""Set-based seeding of a bench database: the one place the benchmarks make ledger rows.

Every function takes an autocommit psycopg connection to a migrated bench database (no
Django needed)
and fills it with ``generate_series`` statements in one transaction, with the ledger
triggers off while loading (``session_replication_role = replica``: only ever on a
throwaway database) and the rows consistent by construction, so every trigger holds
afterwards: entries chain from seq 1, each account's balance is its last entry's
balance_after and its lots' remaining minus its debt, and its totals and entry_seq match its
entries. :func:`invariants_broken` proves it after a seed.

- :func:`ledger_seed`: ``accounts`` accounts of ``entries`` entries each (a grant of 1,000
  then debits of 10, every fifth account's last entry an expiry), one lot each, a third of
  the lots expiring within 60 days; spread over ``WORKSPACES`` workspaces. The admin/API and
  consistency benchmarks share it.
- :func:`due_lots_seed`: ``accounts`` accounts of ``lots`` lots of 10 credits each, all due
  for expiry, one grant entry per lot. The expiry benchmark's data.
"""
from __future__ import annotations

import time

WORKSPACES = 100
#: Every table the seeds fill (TRUNCATE ... CASCADE also empties what hangs off them).
LEDGER_TABLES = ("ledger_workspace", "ledger_customer", "ledger_creditaccount", "ledger_grant",
                 "ledger_ledgerentry", "ledger_allocation")

_LEDGER = """
INSERT INTO ledger_workspace (id, slug, name, timezone, created_at)
  SELECT w, 'bench-' || w, 'Bench ' || w, 'UTC', now() - interval '200 days' FROM generate_series(1, {workspaces}) w;
INSERT INTO ledger_customer (id, workspace_id, external_id, email, created_at)
  SELECT i, 1 + i % {workspaces}, 'u' || i, 'u' || i || '@bench.test', now() - interval '200 days'
    FROM generate_series(1, {accounts}) i;
-- Entry 1 grants 1000, entries 2..K spend 10 each, except that every fifth account's last
-- entry is an expiry of 10. Final balance 1000 - 10 (K - 1) = the lot's remaining.
INSERT INTO ledger_creditaccount (id, workspace_id, owner_kind, customer_id, balance, debt, overdraft_limit,
    total_earned, total_spent, total_expired, entry_seq, refill_interval, created_at, updated_at)
  SELECT i, 1 + i % {workspaces}, 'customer', i, 1000 - 10 * ({k} - 1), 0, 0, 1000,
         10 * ({k} - 1) - CASE WHEN i % 5 = 0 AND {k} > 1 THEN 10 ELSE 0 END,
         CASE WHEN i % 5 = 0 AND {k} > 1 THEN 10 ELSE 0 END,
         {k}, '', now() - interval '200 days', now()
    FROM generate_series(1, {accounts}) i;
INSERT INTO ledger_grant (id, account_id, kind, amount, remaining, priority, effective_from, expires_at,
    reason, actor, source, source_id, created_at)
  SELECT i, i, 'purchase', 1000, 1000 - 10 * ({k} - 1), 50, now() - interval '100 days',
         CASE WHEN i % 3 = 0 THEN now() + (i % 60) * interval '1 day' + interval '1 hour' END,
         '', 'bench', '', '', now() - interval '100 days'
    FROM generate_series(1, {accounts}) i;
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, lot_id,
    source, source_id, description, actor, request_hash, created_at)
  SELECT i, s,
         CASE WHEN s = 1 THEN 'grant' WHEN s = {k} AND i % 5 = 0 THEN 'expire' ELSE 'debit' END,
         CASE WHEN s = 1 THEN 1000 ELSE -10 END,
         CASE WHEN s = 1 THEN 0 ELSE 1000 - 10 * (s - 2) END,
         1000 - 10 * (s - 1), CASE WHEN s = 1 THEN i END,
         CASE WHEN s = 1 THEN '' ELSE 'task' END, CASE WHEN s = 1 THEN '' ELSE i || '-' || s END,
         CASE WHEN s = 1 THEN 'Bench purchase' ELSE 'Render task ' || i || '-' || s END,
         'bench', '', now() - interval '95 days' + (s - 1) * interval '9 days' + (i % 9) * interval '1 day'
    FROM generate_series(1, {accounts}) i CROSS JOIN generate_series(1, {k}) s
   ORDER BY i, s;
INSERT INTO ledger_allocation (entry_id, lot_id, amount, refunded)
  SELECT e.id, e.account_id, 10, 0 FROM ledger_ledgerentry e WHERE e.entry_type = 'debit';
"""

_DUE_LOTS = """
INSERT INTO ledger_workspace (id, slug, name, timezone, created_at)
  VALUES (1, 'bench-expiry', 'Expiry benchmark', 'UTC', now());
INSERT INTO ledger_customer (id, workspace_id, external_id, email, created_at)
  SELECT i, 1, 'bench-' || i, 'bench' || i || '@bench.test', now() FROM generate_series(1, {accounts}) i;
INSERT INTO ledger_creditaccount (id, workspace_id, owner_kind, customer_id, balance, debt, overdraft_limit,
    total_earned, total_spent, total_expired, entry_seq, refill_interval, created_at, updated_at)
  SELECT i, 1, 'customer', i, 10 * {lots}, 0, 0, 10 * {lots}, 0, 0, {lots}, '', now(), now()
    FROM generate_series(1, {accounts}) i;
-- Lot n of every account expires at the same second (a day ago + n s), as when a
-- campaign's grants lapse together: the expiry order interleaves the accounts.
INSERT INTO ledger_grant (id, account_id, kind, amount, remaining, priority, effective_from, expires_at,
    reason, actor, source, source_id, created_at)
  SELECT (i - 1) * {lots} + n, i, 'purchase', 10, 10, 50, now() - interval '200 days',
         now() - interval '1 day' + n * interval '1 second', 'bench', 'system:bench', '', '', now()
    FROM generate_series(1, {accounts}) i CROSS JOIN generate_series(1, {lots}) n;
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, lot_id,
    source, source_id, description, actor, request_hash, created_at)
  SELECT i, n, 'grant', 10, 10 * (n - 1), 10 * n, (i - 1) * {lots} + n, '', '', 'bench grant', 'system:bench', '',
         now() - interval '200 days'
    FROM generate_series(1, {accounts}) i CROSS JOIN generate_series(1, {lots}) n
   ORDER BY i, n;
"""

_SEQUENCES = """
SELECT setval(pg_get_serial_sequence('ledger_workspace', 'id'), (SELECT max(id) FROM ledger_workspace));
SELECT setval(pg_get_serial_sequence('ledger_customer', 'id'), (SELECT max(id) FROM ledger_customer));
SELECT setval(pg_get_serial_sequence('ledger_creditaccount', 'id'), (SELECT max(id) FROM ledger_creditaccount));
SELECT setval(pg_get_serial_sequence('ledger_grant', 'id'), (SELECT max(id) FROM ledger_grant));
"""

#: Accounts whose stored balance, entry_seq or totals disagree with their entries and lots.
_INVARIANTS = """
SELECT count(*) FROM ledger_creditaccount a
LEFT JOIN (SELECT account_id, count(*) AS n, max(seq) AS top,
                  sum(amount) FILTER (WHERE amount > 0) AS earned
             FROM ledger_ledgerentry GROUP BY account_id) e ON e.account_id = a.id
LEFT JOIN (SELECT account_id, sum(remaining) AS held FROM ledger_grant GROUP BY account_id) g
       ON g.account_id = a.id
LEFT JOIN ledger_ledgerentry last ON last.account_id = a.id AND last.seq = a.entry_seq
WHERE a.entry_seq <> coalesce(e.n, 0) OR a.entry_seq <> coalesce(e.top, 0)
   OR a.balance <> coalesce(last.balance_after, 0)
   OR a.balance <> coalesce(g.held, 0) - a.debt
   OR a.total_earned <> coalesce(e.earned, 0)
"""


def _load(conn, script: str) -> float:
    """Empty the ledger tables, run ``script`` with triggers off in one transaction, then
    VACUUM ANALYZE; return the seconds it took."""
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE")
        for statement in filter(str.strip, (script + _SEQUENCES).split(";")):
            conn.execute(statement)
    if invariants_broken(conn):
        raise AssertionError("the seeded accounts break the ledger invariants")
    vacuum_analyze(conn)
    return time.perf_counter() - started


def ledger_seed(conn, *, accounts: int, entries: int, workspaces: int = WORKSPACES) -> float:
    """``accounts`` x ``entries`` chained entries (see the module docstring); returns seconds."""
    return _load(conn, _LEDGER.format(workspaces=min(workspaces, accounts), accounts=accounts, k=entries))


def due_lots_seed(conn, *, accounts: int, lots: int) -> float:
    """``accounts`` x ``lots`` due lots of 10 credits with their grant entries; returns seconds."""
    return _load(conn, _DUE_LOTS.format(accounts=accounts, lots=lots))


def invariants_broken(conn) -> int:
    """How many accounts break balance = last entry = lots - debt, entry_seq or total_earned."""
    return conn.execute(_INVARIANTS).fetchone()[0]


def vacuum_analyze(conn) -> None:
    """VACUUM ANALYZE the ledger tables (outside a transaction block: the connection must be
    in autocommit)."""
    conn.execute(f"VACUUM ANALYZE {', '.join(LEDGER_TABLES)}")
