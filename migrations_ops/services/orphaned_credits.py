"""orphaned-credits SQL: finding, archiving, deleting and restoring orphaned rows, and adding
or dropping the missing foreign key ``user_credits.user_id -> users(id)``.

PostgreSQL adds the key without a long lock: ``ADD CONSTRAINT ... NOT VALID`` (a brief
SHARE ROW EXCLUSIVE lock, no scan) in one transaction, then ``VALIDATE CONSTRAINT`` (scans
under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on) in another, each under a
short ``lock_timeout`` that the runner retries. SQLite has no ALTER TABLE ADD CONSTRAINT:
the table is rebuilt with the key in the batch transaction. MySQL (InnoDB) would take the
plain ``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`` form (an online operation with
foreign_key_checks on); it is not run by the tests.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from django.db import connection

FK_NAME = "user_credits_user_id_users_id_fk"
#: Children first: the order rows are deleted in.
TABLES = ("credit_transactions", "api_key_credits", "user_credits")
DDL_LOCK_TIMEOUT = "2s"
_FK_CLAUSE = f', CONSTRAINT "{FK_NAME}" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE'


def _orphan_where(table: str) -> str:
    return f'NOT EXISTS (SELECT 1 FROM "users" u WHERE u."id" = "{table}"."user_id")'


def orphan_counts() -> dict[str, int]:
    """Rows per legacy table whose user_id names no user (tables missing are left out)."""
    existing = set(connection.introspection.table_names())
    counts = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            if table in existing:
                cursor.execute(f'SELECT COUNT(*) FROM "{table}" WHERE {_orphan_where(table)}')
                counts[table] = cursor.fetchone()[0]
    return counts


def orphan_ids(*, table: str, after: int | None, limit: int, using_connection=None) -> list[int]:
    """A keyset page of orphaned ids of ``table``, ascending."""
    conn = using_connection or connection
    with conn.cursor() as cursor:
        cursor.execute(
            f'SELECT "id" FROM "{table}" WHERE {_orphan_where(table)} AND "id" > %s ORDER BY "id" LIMIT %s',
            [after if after is not None else -(2**62), limit],
        )
        return [row[0] for row in cursor.fetchall()]


def _encode(value):
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    return value


def _decode(value):
    if isinstance(value, dict):
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return date.fromisoformat(value["$date"])
        if "$decimal" in value:
            return Decimal(value["$decimal"])
    return value


def orphans_archive_delete(*, table: str, ids: list[int]) -> dict[int, dict]:
    """Lock the rows of ``ids`` that are still orphaned, delete them and return each full
    row as JSON (column -> value), by id."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" WHERE "id" IN ({marks}) AND {_orphan_where(table)} ORDER BY "id"{lock}', ids)
        names = [column[0] for column in cursor.description]
        rows = {row[0]: {name: _encode(value) for name, value in zip(names, row)} for row in cursor.fetchall()}
        if rows:
            cursor.execute(f'DELETE FROM "{table}" WHERE "id" IN ({", ".join(["%s"] * len(rows))})', list(rows))
    return rows


def row_restore(*, table: str, row: dict) -> bool:
    """Insert an archived row back with its id and values, unless a row with that id exists."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT 1 FROM "{table}" WHERE "id" = %s', [row["id"]])
        if cursor.fetchone():
            return False
        names = ", ".join(f'"{name}"' for name in row)
        cursor.execute(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join(["%s"] * len(row))})',
                       [connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
                        for v in map(_decode, row.values())])
    return True


def rows_present(*, table: str, ids: list[int]) -> int:
    if not ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}" WHERE "id" IN ({", ".join(["%s"] * len(ids))})', ids)
        return cursor.fetchone()[0]


# -- the constraint ------------------------------------------------------------------------


def fk_state() -> str:
    """``absent``, ``not_valid`` or ``valid``: the new key as the catalog shows it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s "
                           "AND conrelid = to_regclass('user_credits')", [FK_NAME])
            found = cursor.fetchone()
            return "absent" if found is None else "valid" if found[0] else "not_valid"
        return "valid" if FK_NAME in _sqlite_table_sql(cursor) else "absent"


def _lock_timeout(cursor) -> None:
    cursor.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")


def fk_add() -> None:
    """Add the key: NOT VALID on PostgreSQL (no scan); a table rebuild on SQLite."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _lock_timeout(cursor)
            cursor.execute(f'ALTER TABLE "user_credits" ADD CONSTRAINT "{FK_NAME}" FOREIGN KEY ("user_id") '
                           'REFERENCES "users" ("id") ON DELETE CASCADE NOT VALID')
        elif connection.vendor == "sqlite":
            sql = _sqlite_table_sql(cursor).rstrip()
            _sqlite_rebuild(cursor, sql[:-1] + _FK_CLAUSE + ")")
        else:
            cursor.execute(f'ALTER TABLE user_credits ADD CONSTRAINT {FK_NAME} FOREIGN KEY (user_id) '
                           'REFERENCES users (id) ON DELETE CASCADE')


def fk_validate() -> list:
    """Validate the key (PostgreSQL: VALIDATE CONSTRAINT; SQLite: foreign_key_check, which
    must find nothing). Returns the violations SQLite found."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _lock_timeout(cursor)
            cursor.execute(f'ALTER TABLE "user_credits" VALIDATE CONSTRAINT "{FK_NAME}"')
            return []
        if connection.vendor == "sqlite":
            cursor.execute('PRAGMA foreign_key_check("user_credits")')
            return cursor.fetchall()
    return []


def fk_drop() -> bool:
    """Drop the key if present; True when it was there."""
    if fk_state() == "absent":
        return False
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            _sqlite_rebuild(cursor, _sqlite_table_sql(cursor).replace(_FK_CLAUSE, ""))
        else:
            if connection.vendor == "postgresql":
                _lock_timeout(cursor)
            cursor.execute(f'ALTER TABLE "user_credits" DROP CONSTRAINT "{FK_NAME}"')
    return True


def _sqlite_table_sql(cursor) -> str:
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user_credits'")
    found = cursor.fetchone()
    return found[0] if found else ""


def _sqlite_rebuild(cursor, create_sql: str) -> None:
    """Rebuild user_credits from ``create_sql`` (same columns), keeping rows and indexes."""
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user_credits' AND sql IS NOT NULL")
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute(re.sub(r'^CREATE TABLE\s+"?user_credits"?', 'CREATE TABLE "user_credits__rebuild"', create_sql))
    cursor.execute('INSERT INTO "user_credits__rebuild" SELECT * FROM "user_credits"')
    cursor.execute('DROP TABLE "user_credits"')
    cursor.execute('ALTER TABLE "user_credits__rebuild" RENAME TO "user_credits"')
    for index in indexes:
        cursor.execute(index)


def user_credits_constraints() -> list[str]:
    """The constraints on user_credits from the catalog, one line each, the new key marked."""
    lines = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint "
                           "WHERE conrelid = to_regclass('user_credits') ORDER BY conname")
            for name, valid, definition in cursor.fetchall():
                mark = "  <- new" if name == FK_NAME else ""
                lines.append(f"{name}: {definition}{'' if valid else ' (NOT VALID)'}{mark}")
        elif connection.vendor == "sqlite":
            mine = FK_NAME in _sqlite_table_sql(cursor)
            cursor.execute('PRAGMA foreign_key_list("user_credits")')
            for row in cursor.fetchall():
                new = mine and (row[2], row[3], row[6]) == ("users", "user_id", "CASCADE")
                name = FK_NAME if new else f"fk {row[0]}"
                lines.append(f"{name}: FOREIGN KEY ({row[3]}) REFERENCES {row[2]}({row[4]}) ON DELETE {row[6]}"
                             + ("  <- new" if new else ""))
    return lines
