"""A paginator for tables too big to COUNT(*) on every page view.

On PostgreSQL an unfiltered list takes the planner's row estimate of the table
(``pg_class.reltuples``) when the table is big, and a filtered list counts at most
``EXACT_LIMIT`` rows, falling back to the planner's estimate (EXPLAIN) past that. Small
tables, and every other database, get the exact count. ``estimated`` tells the template to
say "about".
"""
from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

#: Up to this many rows a count is exact; past it, an estimate.
EXACT_LIMIT = 100_000


class LargeTablePaginator(Paginator):
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return queryset.count()
        if not queryset.query.where:
            return self._table_estimate(queryset, connection)
        capped = queryset.order_by()[: EXACT_LIMIT + 1].count()
        if capped <= EXACT_LIMIT:
            return capped
        self.estimated = True
        return max(self._plan_estimate(queryset, connection), capped)

    def _table_estimate(self, queryset, connection) -> int:
        """One query: the planner's estimate for a big table, else an exact count."""
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT CASE WHEN c.reltuples > %s THEN c.reltuples::bigint"
                f" ELSE (SELECT count(*) FROM {table}) END, c.reltuples > %s"
                f" FROM pg_class c WHERE c.oid = %s::regclass",
                [EXACT_LIMIT, EXACT_LIMIT, queryset.model._meta.db_table],
            )
            count, estimated = cursor.fetchone()
        self.estimated = bool(estimated)
        return int(count)

    def _plan_estimate(self, queryset, connection) -> int:
        sql, params = queryset.order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
