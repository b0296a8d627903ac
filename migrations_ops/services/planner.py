"""Keep PostgreSQL's planner in step with tables a run fills.

A run may grow tables from empty to millions of rows within minutes (the API keys,
accounts, lots, entries and records of a first key-credits run). Two things then go stale,
each turning an index lookup into a scan of the whole table, a cost that grows with every
batch (quadratic over the run):

- the plans the session caches (foreign-key checks, trigger queries), made when the
  tables were small: :func:`plans_discard` drops them at the start of each batch;
- the tables' statistics, which without a recent ANALYZE (autovacuum off, or behind) make
  the planner guess 200 distinct values per column: :func:`statistics_refresh` analyzes
  the tables that have at least doubled since their last ANALYZE.

Both are no-ops on other databases.
"""
from __future__ import annotations

from django.db import connection

#: Analyze a table once this many rows changed since its last ANALYZE, and at least as
#: many as it then had: about twenty times over a run that grows a table to millions.
MIN_CHANGED = 1_000

_GROWN = """
    SELECT format('%%I.%%I', s.schemaname, s.relname)
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.n_mod_since_analyze >= %s AND s.n_mod_since_analyze >= GREATEST(c.reltuples, 0)
     ORDER BY s.relname
"""


def plans_discard() -> None:
    """Drop this session's cached plans (inside a batch transaction is fine)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DISCARD PLANS")


def statistics_refresh(*, skip: tuple[str, ...] = ()) -> list[str]:
    """ANALYZE the tables that grew past their statistics, except the ``skip`` ones
    (tables only written, never read, while the run goes on); return their names.

    Call between batches, outside a transaction: ANALYZE takes a lock that blocks
    neither reads nor writes, and samples a fixed number of rows whatever the size.
    """
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return []
    with connection.cursor() as cursor:
        cursor.execute(_GROWN, [MIN_CHANGED])
        tables = [name for (name,) in cursor.fetchall() if name.split(".", 1)[-1] not in skip]
        for table in tables:
            cursor.execute(f"ANALYZE {table}")
    return tables
