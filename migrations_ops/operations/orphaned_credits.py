"""orphaned-credits: archive and delete rows of users that no longer exist, then add the
missing foreign key user_credits.user_id -> users(id) (credit system fix guide).

Each legacy table is cleaned on its own, children first (credit_transactions,
api_key_credits, user_credits): the guide's cleanup went through user_credits and so missed
transactions and key credits of gone users that had no user_credits row. The cursor is
``[table, id]``; after the last orphan two one-row batches follow, ``["fk", 1]`` adds the
key (NOT VALID on PostgreSQL) and ``["fk", 2]`` validates it, each in its own transaction
so the validation scan never runs under the lock the ADD takes.
"""
from __future__ import annotations

from django.db import connections, transaction

from ..exceptions import CheckFailed
from ..legacy import legacy_table_exists
from ..models import RecordAction
from ..services.orphaned_credits import (
    FK_NAME,
    TABLES,
    fk_add,
    fk_drop,
    fk_state,
    fk_validate,
    orphan_counts,
    orphan_ids,
    orphans_archive_delete,
    row_restore,
    rows_present,
    user_credits_constraints,
)
from .base import CheckResult, Operation, RowOutcome
from .registry import register

_STAGES = (*TABLES, "fk")


@register
class OrphanedCreditsOperation(Operation):
    """Quarantine orphaned credit rows (archived in the run's records), then add the key."""

    name = "orphaned-credits"
    description = "archive and delete credit rows of missing users, then add FK user_credits.user_id -> users(id)"
    conserves = "rows: every orphaned row a batch deletes is archived in its record and gone from its table"
    accepted_params: dict = {}

    def params_clean(self, params):
        # The command always passes --workspace (None when not given); a value is refused.
        return super().params_clean({name: value for name, value in params.items() if value not in (None, "")})

    def check(self, *, params, execute, force):
        result = CheckResult()
        missing = [t for t in ("users", *TABLES) if not legacy_table_exists(t)]
        if missing:
            result.problems.append(f"legacy tables missing: {', '.join(missing)} (python manage.py seed_legacy creates demo ones)")
            return result
        state = fk_state()
        result.notes = {"orphans": orphan_counts(), "constraint": state, "constraints": user_credits_constraints()}
        if state == "valid":
            result.notes["nothing_to_do"] = f"{FK_NAME} is already present and valid"
        return result

    def scope(self, *, params, using):
        raise NotImplementedError("orphaned-credits reads its tables with SQL (batch_read)")

    def count(self, *, params, using):
        if fk_state() == "valid":
            return 0
        return sum(orphan_counts().values()) + 2

    def fingerprint(self, *, params, using):
        return {"orphans": orphan_counts(), "constraint": fk_state()}

    def batch_read(self, *, params, after, limit, using):
        if fk_state() == "valid" and after is None:
            return []  # the key is there: a clean no-op
        stage, last = after if after else (TABLES[0], None)
        if stage == "fk":
            return [("fk", 2)] if last == 1 else []
        rows = []
        for table in _STAGES[_STAGES.index(stage):]:
            if table == "fk":
                return rows or [("fk", 1)]
            ids = orphan_ids(table=table, after=last if table == stage else None, limit=limit - len(rows),
                             using_connection=connections[using])
            rows += [(table, pk) for pk in ids]
            if len(rows) >= limit:
                return rows
        return rows

    def row_cursor(self, row):
        return list(row)

    def batch_apply(self, *, rows, ctx):
        if rows[0][0] == "fk":
            return [self._fk_step(rows[0][1], ctx)]
        outcomes = []
        for table in TABLES:
            ids = [pk for name, pk in rows if name == table]
            archived = orphans_archive_delete(table=table, ids=ids) if ids else {}
            for pk in ids:
                key = f"{table}:{pk}"
                if pk in archived:
                    outcomes.append(RowOutcome(key, RecordAction.CHANGED, old={"table": table, "row": archived[pk]},
                                               new={"deleted": True}, totals={f"{table}_deleted": 1}))
                else:
                    outcomes.append(RowOutcome(key, RecordAction.SKIPPED, message="no longer orphaned or gone",
                                               totals={"skipped_gone": 1}))
        order = {row: n for n, row in enumerate(rows)}
        return sorted(outcomes, key=lambda o: order[(o.key.split(":")[0], int(o.key.split(":")[1]))])

    def _fk_step(self, step, ctx):
        key = f"fk:{FK_NAME}:{'add' if step == 1 else 'validate'}"
        state = fk_state()
        if step == 1:
            if state != "absent":
                return RowOutcome(key, RecordAction.SKIPPED, message="already added", totals={"skipped_done": 1})
            if not ctx.dry_run:
                fk_add()
            return RowOutcome(key, RecordAction.CHANGED, old={"constraint": None}, new={"constraint": FK_NAME},
                              totals={"constraint_added": 1})
        if state == "valid" and not ctx.dry_run and connections["default"].vendor == "postgresql":
            return RowOutcome(key, RecordAction.SKIPPED, message="already valid", totals={"skipped_done": 1})
        if not ctx.dry_run:
            violations = fk_validate()
            if violations:
                raise CheckFailed([f"user_credits still has {len(violations)} rows without a user"])
        return RowOutcome(key, RecordAction.CHANGED, old={"validated": False}, new={"validated": True},
                          totals={"constraint_validated": 1})

    def batch_conserve(self, *, rows, outcomes, ctx):
        problems = []
        for table in TABLES:
            gone = [o.old["row"]["id"] for o in outcomes if o.action == RecordAction.CHANGED and o.old.get("table") == table]
            left = rows_present(table=table, ids=gone)
            if left:
                problems.append(f"{table}: {left} archived rows are still in the table")
        return problems

    def verify(self, *, run):
        if run.status == "rolled_back":
            return []
        problems = [f"{table}: {count} orphaned rows" for table, count in orphan_counts().items() if count]
        state = fk_state()
        if state != "valid":
            problems.append(f"{FK_NAME} is {state.replace('_', ' ')}; constraints: "
                            + "; ".join(user_credits_constraints() or ["none"]))
        if run.failed:
            problems.append(f"{run.failed} rows failed")
        return problems

    @transaction.atomic
    def rollback_record(self, *, record, ctx):
        # The key goes first (it would refuse the orphans coming back): once per rollback.
        if not getattr(ctx, "fk_dropped", False):
            dropped = fk_drop()
            ctx.fk_dropped = True
        else:
            dropped = False
        result = {"constraint_dropped": int(dropped)}
        if record.old and "table" in record.old:
            result["restored"] = int(row_restore(table=record.old["table"], row=record.old["row"]))
        return result

    def status(self, *, params):
        if not all(legacy_table_exists(t) for t in ("users", *TABLES)):
            return {"migrated": 0, "pending": 0}
        return {"migrated": int(fk_state() == "valid"), "pending": sum(orphan_counts().values())}
