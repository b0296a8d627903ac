"""drop-credit-allocations: archive, then drop, the deprecated credit allocation tables.

From the drop deprecated tables guide, without its "data cannot be recovered once dropped":
each table's description and rows go to a checksummed gzip archive under
MIGRATIONS_ARCHIVE_DIR before ``credit_allocation_transactions`` and then
``credit_allocations`` are dropped; rollback recreates them from the archives. The source
"rows" of this operation are the tables themselves, in drop order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from .. import archives
from ..exceptions import InvalidParams
from ..models import RecordAction, RunStatus
from .base import CheckResult, Operation, RowOutcome
from .registry import register

#: Drop order: children first.
TABLES = ("credit_allocation_transactions", "credit_allocations")


@dataclass(frozen=True)
class TableRow:
    """One table to drop; ``pk`` is its place in the drop order (the run's cursor)."""

    pk: int
    name: str


def _quote(name: str) -> str:
    return connections["default"].ops.quote_name(name)


def _ours(user: dict) -> bool:
    """A trigger of one deprecated table naming the other goes with them."""
    return user["kind"] == "trigger" and user["name"].split(" on ")[-1] in TABLES


def _blocker(table: str) -> str:
    """Why ``table`` cannot be dropped now ("" when it can): a foreign key from a live
    table (children were dropped first), or a view, rule, function or trigger using it."""
    outside = [r for r in archives.foreign_keys_to(table) if r["table"] != table]
    if outside:
        return f"still referenced by {outside[0]['table']} ({outside[0]['constraint']})"
    users = [f"{u['kind']} {u['name']}" for u in archives.objects_using(table) if not _ours(u)]
    return f"still used by {', '.join(users)}" if users else ""


@register
class DropCreditAllocationsOperation(Operation):
    """Archive and drop credit_allocation_transactions and credit_allocations."""

    name = "drop-credit-allocations"
    description = "archive (gzip + sha256) and drop the deprecated credit_allocations tables"
    conserves = "rows: every row of a dropped table is in its archive, whose checksum is recorded"
    accepted_params = {"workspace": "not taken: the tables are dropped whole (refused when given)"}
    #: Where check looks for code that still uses the tables (relative to BASE_DIR), and
    #: what it skips: this operation, its legacy builder and the tests.
    code_paths: tuple[str, ...] = ("creditsite", "ledger", "migrations_ops", "templates", "bench", "scripts")
    code_suffixes: tuple[str, ...] = (".py", ".html", ".sql", ".sh", ".txt")
    code_excluded: tuple[str, ...] = (
        "migrations_ops/operations/drop_credit_allocations.py", "migrations_ops/legacy_credit_allocations.py",
        # The make run demo seeds the legacy tables so the drop can be tried; it reads them never.
        "migrations_ops/demo.py",
    )

    def params_clean(self, params):
        params = super().params_clean(params)
        if params:
            raise InvalidParams(f"{self.name} drops whole tables; it takes no --workspace")
        return params

    # -- check -----------------------------------------------------------------------------

    def check(self, *, params, execute, force):
        result = CheckResult()
        present = [t for t in TABLES if archives.table_exists(t)]
        if not present:
            result.notes = {"tables": "credit_allocations and credit_allocation_transactions are already dropped; "
                                      "nothing to do"}
            return result
        for table in TABLES:
            if table not in present:
                result.notes[table] = "already dropped"
                continue
            references = archives.foreign_keys_to(table)
            users = [u for u in archives.objects_using(table) if not _ours(u)]
            result.notes[table] = {
                "rows": archives.table_count(table),
                "referenced_by": [f"{r['table']}.{r['constraint']}: {r['definition']}" for r in references],
                "used_by": [f"{u['kind']} {u['name']}" for u in users],
            }
            result.problems += [f"{u['kind']} {u['name']} uses {table}; drop or change it first" for u in users]
            for reference in references:
                if reference["table"] not in TABLES:
                    result.problems.append(
                        f"table {reference['table']} references {table} ({reference['constraint']}: "
                        f"{reference['definition']}); drop or repoint that foreign key first"
                    )
        code = self.code_references()
        result.notes["code_references"] = code
        if code and execute:
            result.forceable.append(
                f"code still references the tables ({len(code)} lines, first: {code[0]}); remove it first or --force"
            )
        return result

    def code_references(self) -> list[str]:
        """Return ``path:line: text`` for every line of the declared code that names a table."""
        base = Path(settings.BASE_DIR)
        pattern = re.compile(r"\b(" + "|".join(TABLES) + r")\b")
        found = []
        for root in self.code_paths:
            for path in sorted((base / root).rglob("*")):
                relative = path.relative_to(base).as_posix()
                if not path.is_file() or path.suffix not in self.code_suffixes or relative in self.code_excluded:
                    continue
                for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    if pattern.search(line):
                        found.append(f"{relative}:{number}: {line.strip()[:120]}")
        return found

    # -- reading: the tables ------------------------------------------------------------------

    def _present(self, using: str) -> list[TableRow]:
        return [TableRow(n, t) for n, t in enumerate(TABLES, 1) if archives.table_exists(t, using=using)]

    def scope(self, *, params, using):
        raise NotImplementedError("drop-credit-allocations reads tables, not rows (see batch_read)")

    def count(self, *, params, using):
        return len(self._present(using))

    def fingerprint(self, *, params, using):
        return {t.name: archives.table_count(t.name, using=using) for t in self._present(using)}

    def batch_read(self, *, params, after, limit, using):
        return [t for t in self._present(using) if after is None or t.pk > after][:limit]

    # -- writing ---------------------------------------------------------------------------------

    def archive_path(self, *, run, table: str) -> Path:
        return archives.archive_dir() / self.name / f"run-{run.pk}" / f"{table}.jsonl.gz"

    def batch_apply(self, *, rows, ctx):
        outcomes = []
        for row in rows:
            if not archives.table_exists(row.name):
                outcomes.append(RowOutcome(row.name, RecordAction.SKIPPED, message="already dropped",
                                           totals={"skipped_dropped": 1}))
                continue
            if ctx.dry_run:
                self._replay_earlier_drops(row)
            blocker = _blocker(row.name)
            if blocker:
                outcomes.append(RowOutcome(row.name, RecordAction.FAILED, message=blocker))
                continue
            path = self.archive_path(run=ctx.run, table=row.name)
            archive = archives.table_archive(row.name, path=path)
            try:
                with transaction.atomic(), connections["default"].cursor() as cursor:
                    cursor.execute(f"DROP TABLE {_quote(row.name)}")
            except DatabaseError as error:
                path.unlink(missing_ok=True)  # no archive of a table that is still there
                outcomes.append(RowOutcome(row.name, RecordAction.FAILED,
                                           message=f"DROP TABLE refused: {str(error).strip().splitlines()[0]}"))
                continue
            if ctx.dry_run:
                # The dry run wrote and measured the real archive; it keeps nothing.
                path.unlink()
                archive = archives.Archive(path=str(path), sha256=archive.sha256, rows=archive.rows)
            outcomes.append(RowOutcome(
                row.name, RecordAction.CHANGED, old={"table": row.name, "rows": archive.rows},
                new={"archive": archive.path, "sha256": archive.sha256, "rows": archive.rows, "kept": not ctx.dry_run},
                message=(f"{archive.rows} rows would be archived (sha256 {archive.sha256}), then the table dropped"
                         if ctx.dry_run else f"{archive.rows} rows archived to {archive.path} (sha256 {archive.sha256}), "
                         "table dropped"),
                totals={"tables_dropped": 1, "rows_archived": archive.rows, f"rows:{row.name}": archive.rows},
            ))
        return outcomes

    def _replay_earlier_drops(self, row: TableRow) -> None:
        """A dry run rolls every batch back, so tables an earlier batch dropped are back:
        drop them again (in this batch's rolled-back transaction) as the real run will
        have, so that their foreign keys do not stand in the way."""
        for earlier in TABLES[:row.pk - 1]:
            if archives.table_exists(earlier):
                with connections["default"].cursor() as cursor:
                    cursor.execute(f"DROP TABLE {_quote(earlier)}")

    def batch_conserve(self, *, rows, outcomes, ctx):
        problems = []
        for outcome in outcomes:
            if outcome.action != RecordAction.CHANGED:
                continue
            if archives.table_exists(outcome.key):
                problems.append(f"{outcome.key} still exists")
            if outcome.new["kept"]:
                header, archived = archives.archive_read(outcome.new["archive"])
                if len(archived) != outcome.old["rows"] or header["table"] != outcome.key:
                    problems.append(f"archive of {outcome.key} holds {len(archived)} rows, the table had {outcome.old['rows']}")
        return problems

    # -- after the run ---------------------------------------------------------------------------

    def run_lines(self, *, run):
        lines = []
        if run.dry_run:
            for table in TABLES:
                if archives.table_exists(table):
                    references = [f"{r['table']}.{r['constraint']}" for r in archives.foreign_keys_to(table)]
                    lines.append(f"{table}: {archives.table_count(table)} rows; referenced by: {', '.join(references) or 'nothing'}")
            code = self.code_references()
            lines += [f"code reference: {line}" for line in code] or ["code references: none"]
        if run.status == RunStatus.SUCCEEDED and run.total == 0:
            lines.append("credit_allocations and credit_allocation_transactions are already dropped: nothing to do")
        return lines + [f"{r.row_key}: {r.message or r.action}" for r in run.records.order_by("pk")]

    def verify(self, *, run):
        problems = [f"table {t} still exists" for t in TABLES if archives.table_exists(t)]
        for record in run.records.filter(action=RecordAction.CHANGED, reverted_at__isnull=True):
            try:
                archives.archive_check(path=record.new["archive"], sha256=record.new["sha256"])
            except archives.ArchiveInvalid as error:
                problems.append(error.message)
        return problems

    def _archived(self, run) -> dict[str, dict]:
        records = run.records.filter(action=RecordAction.CHANGED).order_by("pk")
        return {record.row_key: record.new for record in records}

    def rollback_blockers(self, *, run, settle):
        # A damaged archive is not something to settle: refuse outright, before any change.
        for table, new in self._archived(run).items():
            if not archives.table_exists(table):
                archives.archive_check(path=new["archive"], sha256=new["sha256"])
        return []

    def rollback_record(self, *, record, ctx):
        archived = self._archived(ctx.run)
        return self._restore(record.row_key, archived)

    def _restore(self, table: str, archived: dict[str, dict]) -> dict:
        if archives.table_exists(table):
            return {"tables_restored": 0, "rows_restored": 0}
        new = archived[table]
        archives.archive_check(path=new["archive"], sha256=new["sha256"])
        header, rows = archives.archive_read(new["archive"])
        done = {"tables_restored": 0, "rows_restored": 0}
        for _, parent, _ in header["foreign_keys"]:
            if parent != table and parent in archived:
                for name, value in self._restore(parent, archived).items():
                    done[name] += value
        with transaction.atomic():
            archives.table_restore(header, rows)
        done["tables_restored"] += 1
        done["rows_restored"] += len(rows)
        return done

    def status(self, *, params):
        present = len(self._present("default"))
        return {"migrated": len(TABLES) - present, "pending": present}
