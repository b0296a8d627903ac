"""Table archives: a table's DDL and rows in a gzip JSON-lines file with a sha256 checksum.

Used by operations that drop data (``drop-credit-allocations``) so that nothing is ever
"unrecoverable": the archive holds a column description read from the catalog (each
column's declared type on that backend, nullability, the primary key, the table's own
foreign keys and indexes) and every row in primary-key order; :func:`table_restore`
recreates the table on the same kind of backend and inserts the rows back exactly.

The file's bytes are deterministic (gzip mtime 0, rows in key order), so writing the same
table twice gives the same checksum: a resumed run rewrites an identical archive.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connections

from .exceptions import MigrationOpsError

FORMAT = "creditsite-table-archive/1"
_CHUNK = 2000


class ArchiveInvalid(MigrationOpsError):
    """An archive is missing, does not match its recorded checksum, or cannot be restored here."""

    code = "archive_invalid"


@dataclass(frozen=True)
class Archive:
    path: str
    sha256: str
    rows: int


def archive_dir() -> Path:
    """Return the configured archive directory (MIGRATIONS_ARCHIVE_DIR)."""
    return Path(getattr(settings, "MIGRATIONS_ARCHIVE_DIR", Path(settings.BASE_DIR) / "var" / "archives"))


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the catalog --------------------------------------------------------------------------


def table_exists(name: str, *, using: str = "default") -> bool:
    connection = connections[using]
    with connection.cursor() as cursor:
        return name in connection.introspection.table_names(cursor)


def table_columns(name: str, *, using: str = "default") -> list[dict]:
    """Return the table's columns with their declared types, from the catalog."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
                "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum", [connection.ops.quote_name(name)],
            )
            found = cursor.fetchall()
        elif connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA table_info({connection.ops.quote_name(name)})")
            found = [(row[1], row[2], not row[3]) for row in cursor.fetchall()]
        else:
            raise ArchiveInvalid(f"archiving tables is not supported on {connection.vendor}")
        constraints = connection.introspection.get_constraints(cursor, name)
    primary = next((c["columns"] for c in constraints.values() if c["primary_key"]), [])
    return [
        {"name": column, "type": sql_type, "nullable": bool(nullable), "primary": column in primary}
        for column, sql_type, nullable in found
    ]


def table_constraints(name: str, *, using: str = "default") -> dict:
    """Return the table's own foreign keys and indexes (not its primary key)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, name)
    foreign_keys = [
        [c["columns"][0], *c["foreign_key"]] for c in constraints.values() if c.get("foreign_key")
    ]
    indexes = [
        {"name": index_name, "columns": c["columns"], "unique": bool(c["unique"])}
        for index_name, c in sorted(constraints.items())
        if c.get("index") and not c["primary_key"] and not index_name.startswith("sqlite_autoindex")
    ]
    return {"foreign_keys": sorted(foreign_keys), "indexes": indexes}


def foreign_keys_to(name: str, *, using: str = "default") -> list[dict]:
    """Return every foreign key that points at ``name``, from the catalog
    (pg_constraint on PostgreSQL, PRAGMA foreign_key_list over all tables on SQLite)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT con.conrelid::regclass::text, con.conname, pg_get_constraintdef(con.oid) "
                "FROM pg_constraint con WHERE con.contype = 'f' AND con.confrelid = to_regclass(%s) "
                "ORDER BY 1, 2", [connection.ops.quote_name(name)],
            )
            return [{"table": t.strip('"'), "constraint": c, "definition": d} for t, c, d in cursor.fetchall()]
        found = []
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"PRAGMA foreign_key_list({connection.ops.quote_name(table)})")
            for row in cursor.fetchall():
                if row[2] == name:
                    found.append({"table": table, "constraint": f"fk_{row[0]}",
                                  "definition": f"FOREIGN KEY ({row[3]}) REFERENCES {row[2]}({row[4]})"})
        return found


_PG_DEPENDENTS = r"""
    -- views, materialized views and rules of other tables that read or write the table
    SELECT DISTINCT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'rule' END,
           CASE WHEN r.rulename = '_RETURN' THEN c.oid::regclass::text
                ELSE r.rulename || ' on ' || c.oid::regclass::text END
      FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
      JOIN pg_class c ON c.oid = r.ev_class
     WHERE d.refobjid = to_regclass(%(table)s) AND c.oid <> to_regclass(%(table)s)
    UNION
    -- functions whose body names the table (plpgsql bodies are not tracked by pg_depend)
    SELECT 'function', p.oid::regprocedure::text
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prosrc ~ ('\m' || %(name)s || '\M')
    UNION
    -- triggers of other tables that call such a function
    SELECT 'trigger', t.tgname || ' on ' || t.tgrelid::regclass::text
      FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE NOT t.tgisinternal AND t.tgrelid <> to_regclass(%(table)s)
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prosrc ~ ('\m' || %(name)s || '\M')
    ORDER BY 1, 2
"""


def objects_using(name: str, *, using: str = "default") -> list[dict]:
    """Return the database objects besides foreign keys that use table ``name`` and would
    break, or silently go, if it were dropped: views, materialized views, rules, functions
    and triggers (PostgreSQL: from pg_depend, pg_rewrite, pg_proc and pg_trigger; SQLite:
    views and triggers of other tables whose SQL names it). Each is ``{"kind", "name"}``."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_DEPENDENTS, {"table": connection.ops.quote_name(name), "name": name})
            return [{"kind": kind, "name": obj.strip('"')} for kind, obj in cursor.fetchall()]
        cursor.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('view', 'trigger') "
                       "AND tbl_name <> %s ORDER BY type, name", [name])
        named = re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)
        return [{"kind": kind, "name": obj if kind == "view" else f"{obj} on {table}"}
                for kind, obj, table, sql in cursor.fetchall() if named.search(sql or "")]


def table_count(name: str, *, using: str = "default") -> int:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")
        return cursor.fetchone()[0]


# -- values -------------------------------------------------------------------------------


def _encode(value):
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, bytes | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value):
    if isinstance(value, dict):
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$date" in value:
            return date.fromisoformat(value["$date"])
        if "$dec" in value:
            return Decimal(value["$dec"])
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
    return value


# -- archive and restore --------------------------------------------------------------------


def table_rows(name: str, *, order_by: list[str], using: str = "default"):
    """Yield the table's rows as tuples, in primary-key order, in chunks."""
    connection = connections[using]
    quote = connection.ops.quote_name
    order = ", ".join(quote(c) for c in order_by) or "1"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {quote(name)} ORDER BY {order}")
        while chunk := cursor.fetchmany(_CHUNK):
            yield from chunk


def table_archive(name: str, *, path: Path, using: str = "default") -> Archive:
    """Write the table's description and rows to ``path`` (gzip JSON lines, replaced
    atomically) and return its checksum and row count."""
    connection = connections[using]
    columns = table_columns(name, using=using)
    header = {
        "format": FORMAT, "table": name, "vendor": connection.vendor, "columns": columns,
        **table_constraints(name, using=using),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    rows = 0
    with open(partial, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write((json.dumps(header, sort_keys=True) + "\n").encode())
        order = [c["name"] for c in columns if c["primary"]] or [c["name"] for c in columns]
        for row in table_rows(name, order_by=order, using=using):
            handle.write((json.dumps([_encode(v) for v in row], ensure_ascii=False) + "\n").encode())
            rows += 1
        handle.flush()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, path)
    return Archive(path=str(path), sha256=file_sha256(path), rows=rows)


def archive_check(*, path: str, sha256: str) -> None:
    """Refuse (ArchiveInvalid) when the archive is missing or its checksum differs."""
    if not os.path.exists(path):
        raise ArchiveInvalid(f"archive {path} is missing; nothing was restored")
    actual = file_sha256(path)
    if actual != sha256:
        raise ArchiveInvalid(
            f"archive {path} does not match its recorded checksum (recorded sha256 {sha256}, file has {actual}): "
            "it was changed or damaged; refusing to restore from it, nothing was restored"
        )


def archive_read(path: str) -> tuple[dict, list[tuple]]:
    """Return an archive's header and rows."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        header = json.loads(handle.readline())
        rows = [tuple(_decode(v) for v in json.loads(line)) for line in handle]
    return header, rows


def table_restore(header: dict, rows: list[tuple], *, using: str = "default") -> None:
    """Recreate an archived table (columns, primary key, foreign keys, indexes) and insert
    its rows, in the caller's transaction. The referenced tables must exist."""
    connection = connections[using]
    if header.get("format") != FORMAT or header["vendor"] != connection.vendor:
        raise ArchiveInvalid(
            f"archive of {header.get('table')} was written on {header.get('vendor')}; it restores on the same "
            f"kind of database only (this is {connection.vendor})"
        )
    quote = connection.ops.quote_name
    name, columns = header["table"], header["columns"]
    parts = [f"{quote(c['name'])} {c['type']} {'NULL' if c['nullable'] else 'NOT NULL'}" for c in columns]
    primary = [c["name"] for c in columns if c["primary"]]
    if primary:
        parts.append(f"PRIMARY KEY ({', '.join(quote(c) for c in primary)})")
    parts += [f"FOREIGN KEY ({quote(c)}) REFERENCES {quote(t)} ({quote(r)})" for c, t, r in header["foreign_keys"]]
    marks = ", ".join(["%s"] * len(columns))
    adapt = connection.ops.adapt_datetimefield_value
    values = [tuple(adapt(v) if isinstance(v, datetime) else v for v in row) for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {quote(name)} ({', '.join(parts)})")
        for index in header["indexes"]:
            unique = "UNIQUE " if index["unique"] else ""
            cursor.execute(f"CREATE {unique}INDEX {quote(index['name'])} ON {quote(name)} "
                           f"({', '.join(quote(c) for c in index['columns'])})")
        sql = f"INSERT INTO {quote(name)} ({', '.join(quote(c['name']) for c in columns)}) VALUES ({marks})"
        for start in range(0, len(values), _CHUNK):
            cursor.executemany(sql, values[start:start + _CHUNK])
