"""migrate_credits: dry-run, execute, resume, verify or roll back a credit data migration."""
from __future__ import annotations

import getpass
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from ledger.actors import Actor
from migrations_ops.connections import READONLY_ALIAS, dsn_register, primary_use
from migrations_ops.exceptions import ActiveRunExists, MigrationOpsError, RunStateError
from migrations_ops.models import Run, RunStatus
from migrations_ops.operations.registry import operation_get, operations_all
from migrations_ops.services import rollbacks, runs

MODES = ("dry_run", "execute", "resume", "rollback", "verify")


def _note(value) -> str:
    """One check note on one line: dicts as ``key=value, ...``."""
    if isinstance(value, dict):
        return ", ".join(f"{key}={_note(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(_note(item) for item in value) or "none"
    return str(value)


class Command(BaseCommand):
    help = "Run a credit data migration operation (see docs/migrations.md). --list shows them."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("operation", nargs="?", help="operation name (see --list)")
        parser.add_argument("--list", action="store_true", help="list the operations")
        parser.add_argument("--dry-run", action="store_true", help="show what would change (default)")
        parser.add_argument("--execute", action="store_true", help="change the data")
        parser.add_argument("--resume", metavar="RUN_ID", help="continue a paused, failed or killed run")
        parser.add_argument("--rollback", metavar="RUN_ID", help="undo a run from its records")
        parser.add_argument("--verify", metavar="RUN_ID", help="check a run's post-conditions")
        parser.add_argument("--batch-size", type=int, help=f"rows per batch (default {runs.DEFAULT_BATCH_SIZE})")
        parser.add_argument("--workspace", help="limit to one workspace (its legacy id, e.g. ws_abc)")
        parser.add_argument("--primary-dsn", help="write to this database (postgres://, mysql://, sqlite://)")
        parser.add_argument("--readonly-dsn", help="read source rows from this database (a replica)")
        parser.add_argument("--throttle-ms", type=int, help="pause between batches (default 0)")
        parser.add_argument("--max-rows", type=int, help="stop (paused, resumable) after this many rows")
        parser.add_argument("--max-lag-ms", type=int, help="wait while the replica lags more than this")
        parser.add_argument("--force", action="store_true", help="run past a forceable check (recorded)")
        parser.add_argument("--settle", help="rollback: how to settle spent credits (the operation's modes: see --list)")
        parser.add_argument("--reason", default="", help="rollback: why (kept in the audit log)")
        # Operation parameters (issue 8b: billing-usd-to-credits); validated by the operation.
        parser.add_argument("--rate", help="billing-usd-to-credits: credits per USD (default 1.0)")
        parser.add_argument("--uah-rate", help="billing-usd-to-credits: credits per UAH (default: UAH not converted)")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        # issue 8a: expiry-backfill
        parser.add_argument("--months", help="expiry-backfill: months after the grant (default: the workspace policy)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        self.options = options
        self._failure = ""
        try:
            if options["list"]:
                return self._list()
            code = self._dispatch(options)
        except MigrationOpsError as error:
            raise CommandError(error.message, returncode=2) from None
        if code:
            raise CommandError(self._failure, returncode=code)

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, options) -> int:
        chosen = [mode for mode in MODES if options[mode]]
        if len(chosen) > 1:
            raise CommandError(f"choose one of --{', --'.join(m.replace('_', '-') for m in chosen)}", returncode=2)
        mode = chosen[0] if chosen else "dry_run"
        if mode in ("dry_run", "execute") and not options["operation"]:
            raise CommandError("name an operation (python manage.py migrate_credits --list)", returncode=2)
        # Only the options given on the command line: a resume keeps the run's others.
        given = {name: options[name] for name in runs.RUN_OPTIONS if options[name] is not None}
        run_options = runs.options_clean(**given)
        if options["primary_dsn"]:
            primary_use(options["primary_dsn"])
        self.read_alias = "default"
        if options["readonly_dsn"]:
            self.read_alias = dsn_register(alias=READONLY_ALIAS, dsn=options["readonly_dsn"], option="--readonly-dsn")
        self.actor = Actor(label=f"cli:{getpass.getuser()}")
        if mode in ("resume", "rollback", "verify"):
            run = self._existing(options[mode])
            if mode == "resume" and not run.status == RunStatus.SUCCEEDED:
                # --max-rows limits this invocation only; the others stay unless given.
                changes = {k: v for k, v in run_options.items() if k in given} | {"max_rows": run_options["max_rows"]}
                runs.run_options_update(run_id=run.pk, options=changes)
            return getattr(self, f"_{mode}")(run)
        return self._start(execute=mode == "execute", run_options=run_options)

    def _existing(self, run_id: str) -> Run:
        run = Run.objects.filter(pk=run_id).first() if str(run_id).isdigit() else None
        if run is None:
            raise CommandError(f"run {run_id!r} does not exist", returncode=2)
        if self.options["operation"] and self.options["operation"] != run.operation:
            raise CommandError(f"run #{run.pk} is a run of {run.operation}, not {self.options['operation']}", returncode=2)
        return run

    def _params(self) -> dict:
        # Only the parameters given: an operation refuses ones it does not take.
        names = ("workspace", "rate", "uah_rate", "months")
        return {name: self.options[name] for name in names if self.options.get(name) is not None}

    # -- modes ---------------------------------------------------------------------------------

    def _start(self, *, execute: bool, run_options: dict) -> int:
        name, force = self.options["operation"], self.options["force"]
        if execute:
            self._confirmable()  # refuse before the dry run is stored, not after
        preview = runs.run_preview(operation=name, params=self._params(), execute=execute, force=force,
                                   read_alias=self.read_alias)
        plan_id = None
        if not execute or not self.options["yes"]:
            plan = runs.run_create(preview=preview, actor=self.actor, dry_run=True, options=run_options)
            plan = self._execute(plan, quiet=execute)
            if not execute or plan.status != RunStatus.SUCCEEDED:
                return self._report(plan)
            self._confirm(f"Execute {name} as planned by dry run #{plan.pk}?", plan)
            plan_id = plan.pk
            preview = runs.run_preview(operation=name, params=self._params(), execute=True, force=force,
                                       read_alias=self.read_alias)
        run = runs.run_create(preview=preview, actor=self.actor, dry_run=False, options=run_options,
                              force=force, plan_id=plan_id)
        return self._report(self._execute(run))

    def _resume(self, run: Run) -> int:
        return self._report(self._execute(run))

    def _verify(self, run: Run) -> int:
        problems = runs.run_verify(run_id=run.pk, actor=self.actor)
        if self.options["json"]:
            self.stdout.write(json.dumps({"run_id": run.pk, "operation": run.operation, "ok": not problems, "problems": problems}))
        else:
            for problem in problems:
                self.stdout.write(f"  problem: {problem}")
            self.stdout.write(f"run #{run.pk} {run.operation}: " + ("verified" if not problems else f"{len(problems)} problems"))
        self._failure = f"run #{run.pk} did not verify: {problems[0]}" if problems else ""
        return 1 if problems else 0

    def _rollback(self, run: Run) -> int:
        settle = self.options["settle"]
        plan = rollbacks.run_rollback_plan(run_id=run.pk, settle=settle)
        if plan.blockers:
            for blocker in plan.blockers[:50]:
                self.stderr.write(f"  spent: {blocker}")
            raise CommandError(
                f"refusing to roll back run #{run.pk}: {len(plan.blockers)} rows had migrated credits spent since "
                f"(listed above); {rollbacks.settle_hint(operation_get(run.operation))}", returncode=3,
            )
        if not self.options["json"]:
            self.stdout.write(f"Rollback of run #{run.pk} ({run.operation}): {plan.records} changed rows to undo.")
        self._confirm(f"Roll back run #{run.pk}?", None)
        results = rollbacks.run_rollback(run_id=run.pk, actor=self.actor, settle=settle,
                                    reason=self.options["reason"] or "rolled back from migrate_credits")
        run.refresh_from_db()
        if self.options["json"]:
            self.stdout.write(json.dumps({"run_id": run.pk, "operation": run.operation, "status": run.status, "rollback": results}))
        else:
            self.stdout.write(f"run #{run.pk}: {run.status} " + " ".join(f"{k}={v}" for k, v in results.items()))
        return 0

    # -- helpers -------------------------------------------------------------------------------

    def _confirmable(self):
        """Return the stdin to ask on; refuse (exit 2, nothing written) when nobody can answer."""
        stdin = self.options.get("stdin") or sys.stdin
        if not self.options["yes"] and not stdin.isatty():
            raise CommandError("refusing without confirmation: standard input is not a terminal; pass --yes", returncode=2)
        return stdin

    def _confirm(self, question: str, plan: Run | None) -> None:
        if self.options["yes"]:
            return
        if plan is not None:
            self._table(plan)
        stdin = self._confirmable()
        self.stdout.write(f"{question} Type yes to continue: ", ending="")
        self.stdout.flush()
        if stdin.readline().strip().lower() != "yes":
            raise CommandError("not confirmed; nothing was changed", returncode=2)

    def _execute(self, run: Run, *, quiet: bool = False) -> Run:
        show = not self.options["json"] and not quiet
        tty = show and self.stdout.isatty()

        def progress(current: Run) -> None:
            if not show:
                return
            line = (f"{current.operation} #{current.pk}: {current.scanned}/{current.total} rows, "
                    f"changed {current.changed}, skipped {current.skipped}, failed {current.failed}")
            if tty:
                filled = current.percent * 30 // 100
                self.stdout.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {current.percent:3d}% {line}", ending="")
                self.stdout.flush()
            else:
                self.stdout.write(line)

        try:
            run = runs.run_execute(run_id=run.pk, actor=self.actor, read_alias=self.read_alias, progress=progress)
        except (ActiveRunExists, RunStateError):
            raise
        except Exception:
            # The runner saved the failure on the run; the report shows it.
            run.refresh_from_db()
            if run.status != RunStatus.FAILED:
                raise
        if tty:
            self.stdout.write("")
        run.refresh_from_db()
        return run

    def _report(self, run: Run) -> int:
        if self.options["json"]:
            self.stdout.write(json.dumps({
                "run_id": run.pk, "operation": run.operation, "status": run.status, "dry_run": run.dry_run,
                "forced": run.forced, "plan_id": run.plan_id, "scanned": run.scanned, "changed": run.changed,
                "skipped": run.skipped, "failed": run.failed, "totals": run.totals, "cursor": run.cursor,
                "error": run.error, "check_notes": run.check_notes,
            }, default=str))
        else:
            self._table(run)
        first_line = (run.error or "").strip().splitlines()[0] if run.error.strip() else ""
        self._failure = f"run #{run.pk} failed: {first_line}" if run.status == RunStatus.FAILED else ""
        return 1 if run.status == RunStatus.FAILED else 0

    def _table(self, run: Run) -> None:
        for line in operation_get(run.operation).run_lines(run=run):
            self.stdout.write(line)
        kind = "dry run" if run.dry_run else "run"
        rows = [("run", f"#{run.pk} ({kind}{', forced' if run.forced else ''})"), ("operation", run.operation),
                ("status", run.status), ("rows in scope", run.total), ("scanned", run.scanned),
                ("changed", run.changed), ("skipped", run.skipped), ("failed", run.failed)]
        rows += [(name, value) for name, value in sorted(run.totals.items())]
        rows += [(f"check: {name}", _note(value)) for name, value in run.check_notes.items()]
        if run.started_at and run.finished_at:
            rows.append(("elapsed", f"{(run.finished_at - run.started_at).total_seconds():.1f}s"))
        if run.error:
            rows.append(("error", run.error))
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"  {label.ljust(width)}  {value}")

    def _list(self) -> None:
        for op in operations_all():
            settle = f" [rollback --settle: {', '.join(op.settle_modes)}]" if op.settle_modes else ""
            self.stdout.write(f"{op.name:24} {op.description}{settle}")
