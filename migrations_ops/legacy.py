"""Legacy source tables: portable DDL and synthetic data, one registered builder per table.

The operations read tables that belong to the product, not to Django (``keys`` for the key
credits migration; later ones add theirs). ``manage.py seed_legacy`` and the test fixtures
create and fill them through this registry, so adding a legacy table is one
:func:`legacy_table_register` call: a name, the ``seed_legacy`` option that sets how many
rows, the columns (as Django field types, so the DDL follows each backend's own types) and
a row generator.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connections, models

#: (column, Django internal type, max_length or None, nullable, primary key); for a
#: ``DecimalField`` the third item is ``(max_digits, decimal_places)``.
Column = tuple[str, str, int | tuple[int, int] | None, bool, bool]


@dataclass(frozen=True)
class LegacyTable:
    """How to build one legacy table and fill it with ``count`` synthetic rows."""

    name: str
    option: str
    help: str
    columns: list[Column]
    rows: Callable[[int, random.Random], Iterator[tuple]]
    indexes: list[tuple[str, ...]] = field(default_factory=list)
    #: (column, referenced table, referenced column): portable FOREIGN KEY clauses.
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)
    #: A table Django's migrations own (e.g. ``users``): seeding empties it, never drops it.
    managed: bool = False


LEGACY_TABLES: dict[str, LegacyTable] = {}


def legacy_table_register(table: LegacyTable) -> LegacyTable:
    """Add a legacy table to the registry (``seed_legacy --<option> N`` then fills it)."""
    LEGACY_TABLES[table.name] = table
    return table


def _column_sql(connection, column: Column) -> str:
    name, internal_type, size, nullable, primary = column
    if internal_type == "DecimalField":
        kwargs = {"max_digits": size[0], "decimal_places": size[1]}
    else:
        kwargs = {"max_length": size} if size else {}
    field = getattr(models, internal_type)(**kwargs)
    sql_type = field.db_type(connection)
    parts = [connection.ops.quote_name(name), sql_type, "NULL" if nullable else "NOT NULL"]
    if primary:
        parts.append("PRIMARY KEY")
    return " ".join(parts)


def legacy_table_create(table: LegacyTable, *, using: str = "default") -> None:
    """Create the table (and its indexes) with the backend's own column types; drop first."""
    connection = connections[using]
    quote = connection.ops.quote_name
    legacy_table_drop(table, using=using)
    if table.managed:
        return
    columns = ", ".join(
        [_column_sql(connection, column) for column in table.columns]
        + [f"FOREIGN KEY ({quote(c)}) REFERENCES {quote(t)} ({quote(r)})" for c, t, r in table.foreign_keys]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {quote(table.name)} ({columns})")
        for index_columns in table.indexes:
            index_name = f"{table.name}_{'_'.join(index_columns)}_idx"
            cursor.execute(
                f"CREATE INDEX {quote(index_name)} ON {quote(table.name)} "
                f"({', '.join(quote(c) for c in index_columns)})"
            )


def legacy_table_drop(table: LegacyTable, *, using: str = "default") -> None:
    """Drop the table if it exists (a managed table is emptied instead). On PostgreSQL,
    foreign keys other legacy tables hold on it go with it (CASCADE)."""
    connection = connections[using]
    name = connection.ops.quote_name(table.name)
    with connection.cursor() as cursor:
        if table.managed:
            cursor.execute(f"DELETE FROM {name}")
            return
        cascade = " CASCADE" if connection.vendor == "postgresql" else ""
        cursor.execute(f"DROP TABLE IF EXISTS {name}{cascade}")


def legacy_table_exists(name: str, *, using: str = "default") -> bool:
    connection = connections[using]
    with connection.cursor() as cursor:
        return name in connection.introspection.table_names(cursor)


def legacy_rows_insert(table: LegacyTable, rows: list[tuple], *, using: str = "default") -> None:
    """Insert rows (tuples in column order) with executemany, in chunks."""
    connection = connections[using]
    quote = connection.ops.quote_name
    names = ", ".join(quote(column[0]) for column in table.columns)
    marks = ", ".join(["%s"] * len(table.columns))
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
    adapted = [
        tuple(connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v for v in row)
        for row in rows
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(adapted), 2000):
            cursor.executemany(sql, adapted[start:start + 2000])


def legacy_seed(*, counts: dict[str, int], seed: int, using: str = "default") -> dict[str, int]:
    """(Re)create each named legacy table and fill it with ``counts[name]`` rows made from
    ``seed`` (the same seed gives the same rows). Returns rows written per table."""
    written = {}
    # Children first: a table may reference another one seeded in the same call.
    for name in reversed(list(counts)):
        legacy_table_drop(LEGACY_TABLES[name], using=using)
    for name, count in counts.items():
        table = LEGACY_TABLES[name]
        rng = random.Random(f"{seed}:{name}")
        legacy_table_create(table, using=using)
        rows = list(table.rows(count, rng))
        legacy_rows_insert(table, rows, using=using)
        written[name] = len(rows)
    return written


# -- keys (key credits guide) ----------------------------------------------------------

_EPOCH_2024 = datetime(2024, 1, 1, tzinfo=UTC)


def _workspace_slug(rng: random.Random) -> str:
    return "ws_" + "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(8))


def _keys_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    """Realistic keys: most with a few thousand requests left; some unlimited (NULL),
    deleted, at zero or very large; refills daily (day NULL) or monthly on a day 1-31."""
    workspaces = [_workspace_slug(rng) for _ in range(max(1, count // 40))]
    for number in range(1, count + 1):
        draw = rng.random()
        if draw < 0.15:
            remaining = None
        elif draw < 0.23:
            remaining = 0
        elif draw < 0.25:
            remaining = rng.randint(10**9, 10**12)
        else:
            remaining = rng.randint(1, 10_000)
        refill_amount = refill_day = last_refill_at = None
        if remaining is not None and rng.random() < 0.4:
            refill_amount = rng.choice([100, 1_000, 5_000, 10_000])
            refill_day = None if rng.random() < 0.5 else rng.randint(1, 31)
            if rng.random() < 0.8:
                last_refill_at = _EPOCH_2024 + timedelta(minutes=rng.randint(0, 60 * 24 * 600))
        deleted_at_m = None
        if rng.random() < 0.1:
            deleted_at_m = int((_EPOCH_2024 + timedelta(days=rng.randint(0, 600))).timestamp() * 1000)
        yield (
            f"key_{number:08d}", rng.choice(workspaces), remaining, refill_day, refill_amount,
            last_refill_at, deleted_at_m,
        )


KEYS_TABLE = legacy_table_register(
    LegacyTable(
        name="keys",
        option="keys",
        help="rows of the legacy keys table (key credits guide)",
        columns=[
            ("id", "CharField", 256, False, True),
            ("workspace_id", "CharField", 256, False, False),
            ("remaining_requests", "BigIntegerField", None, True, False),
            ("refill_day", "SmallIntegerField", None, True, False),
            ("refill_amount", "BigIntegerField", None, True, False),
            ("last_refill_at", "DateTimeField", None, True, False),
            ("deleted_at_m", "BigIntegerField", None, True, False),
        ],
        rows=_keys_rows,
        indexes=[("workspace_id", "id")],
    )
)


# -- deprecated credit allocation tables and USD billing (issue 8b) ----------------------
# -- users, teams, user_credits, api_key_credits, credit_transactions (issue 8a) -----------
from . import (  # noqa: E402,F401
    legacy_billing,
    legacy_credit_allocations,
    legacy_credits,  # noqa: E402,F401  (registers those tables)
)
