"""Small helpers the report modules share to run portable set-based SQL."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import CreditAccount, Grant, LedgerEntry, Workspace

ACCOUNTS = CreditAccount._meta.db_table
ENTRIES = LedgerEntry._meta.db_table
LOTS = Grant._meta.db_table
WORKSPACES = Workspace._meta.db_table


def rows_fetch(sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
    """Run one read-only statement and return all its rows."""
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return [tuple(_plain(value) for value in row) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    # PostgreSQL's SUM(bigint) is numeric: give whole credits back as int.
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def queryset_sql(queryset: QuerySet) -> tuple[str, list[Any]]:
    """Return the SQL and parameters the ORM would run for ``queryset``, to embed it in a
    larger statement (so rules such as the totals buckets stay in one place)."""
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def limit_clause(limit: int | None) -> str:
    """Return a LIMIT clause (portable between PostgreSQL and SQLite) or nothing."""
    return f" LIMIT {int(limit)}" if limit is not None else ""


def in_workspace(column: str, workspace_id: int | None) -> tuple[str, list[Any]]:
    """Return an ``AND`` filter keeping rows whose account (``column``) is in the workspace."""
    if workspace_id is None:
        return "", []
    return f" AND {column} IN (SELECT id FROM {ACCOUNTS} WHERE workspace_id = %s)", [workspace_id]


def db_datetime(value: datetime) -> Any:
    """Adapt an aware datetime for a raw SQL parameter the way the ORM would."""
    return connection.ops.adapt_datetimefield_value(value)


def as_datetime(value: Any) -> datetime | None:
    """Return a column value as an aware datetime (SQLite returns text for computed columns)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or timezone.is_aware(value) else timezone.make_aware(value, dt_timezone.utc)
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt_timezone.utc)
    return parsed
