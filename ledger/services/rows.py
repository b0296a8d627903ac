"""Load and insert model rows with plain SQL, for the posting core's hot path.

Every debit locks an account, reads its lots and appends an entry and an allocation.
Building those ORM queries costs more client CPU than the database spends running them,
so the posting core writes the SQL once and uses these helpers to turn rows into model
instances (with the same converters the ORM applies) and instances into rows (with the same
``pre_save`` and ``get_db_prep_save`` the ORM calls). Signals are not sent, as with
``bulk_create``: no ledger rule lives in a signal.
"""
from __future__ import annotations

from functools import cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from django.db.models.expressions import RawSQL


@cache
def _shape(model: type[Model], alias: str) -> tuple[str, list]:
    """Columns of the model in field order, and the converters the ORM applies to each."""
    fields = model._meta.concrete_fields
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    converters = []
    for field in fields:
        column = field.get_col(table)
        functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        converters.append((column, functions))
    return columns, converters


#: Runs of a statement on a connection before psycopg prepares it (psycopg's default).
PREPARE_THRESHOLD = 5


def prepared_cursor():
    """A cursor like ``connection.cursor()`` whose repeated statements PostgreSQL prepares.

    psycopg's server-side binding: once a statement has run PREPARE_THRESHOLD times on a
    connection, PostgreSQL has parsed and planned it once and only the parameters travel.
    Django turns psycopg's preparing off (``prepare_threshold=None``) for the sake of
    connection poolers; this turns it back on for the connection when
    settings.LEDGER_PREPARED_STATEMENTS is on (off for PgBouncer before 1.21 in transaction
    mode). Django's own cursors bind on the client and never prepare, so only statements
    run through this cursor are prepared. Wrapped as Django wraps its own cursors, so query
    logging and execute wrappers see it. For the hot path's fixed statements (PostgreSQL).
    """
    from django.db.backends.postgresql.base import ServerBindingCursor

    db = connections[DEFAULT_DB_ALIAS]  # what ``connection`` proxies, looked up once
    db.ensure_connection()
    db.validate_thread_sharing()
    raw_connection = db.connection
    if settings.LEDGER_PREPARED_STATEMENTS and raw_connection.prepare_threshold is None:
        raw_connection.prepare_threshold = PREPARE_THRESHOLD
    raw = ServerBindingCursor(raw_connection)
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


def rows_fetch(model: type[Model], sql: str, params: list) -> list:
    """Run ``sql`` (a SELECT with ``{columns}`` for the model's columns) and return instances."""
    columns, converters = _shape(model, connection.alias)
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(sql.format(columns=columns, table=table), params)
        rows = cursor.fetchall()
    instances = []
    for row in rows:
        values = list(row)
        for index, (column, functions) in enumerate(converters):
            for convert in functions:
                values[index] = convert(values[index], column, connection)
        instances.append(model.from_db(connection.alias, None, values))
    return instances


def row_insert(instance: Model) -> Model:
    """INSERT one new instance, as ``save(force_insert=True)`` would, and set its id."""
    meta = instance._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        instance.save(force_insert=True)  # a database default or expression: the ORM's job
        return instance
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
    )
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(f"{sql} RETURNING {quote(meta.pk.column)}", values)
            instance.pk = cursor.fetchone()[0]
        else:
            cursor.execute(sql, values)
            instance.pk = cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def ids_in(ids: list[int]) -> list[int] | RawSQL:
    """``ids`` as the right-hand side of an ``__in`` lookup: on PostgreSQL one array
    parameter (``unnest``), elsewhere the list. Thousands of placeholders, one per id, cost
    the client more to bind than the database to run the query."""
    if connection.vendor != "postgresql":
        return list(ids)
    return RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])
