"""The Operation API: what every data-migration operation declares and implements.

An operation is a class registered with :func:`migrations_ops.operations.registry.register`.
The framework (``migrations_ops.services.runs``) owns runs, batches, transactions, the
cursor, counters, records, throttling, lag waits, lock timeouts and the conservation check;
an operation only says what its source rows are and what to do with one batch of them.

Lifecycle, as the framework calls it::

    op.params_clean(params)                      # validate/normalise parameters
    op.check(params=..., execute=..., force=...) # blocking problems -> refused (unless forced)
    op.fingerprint(params=..., using=...)        # counts/totals of the data planned over
    op.count(params=..., using=...)              # rows in scope (for the progress bar)
    loop:
        rows = op.batch_read(params=..., after=cursor, limit=n, using=read_alias)
        with one transaction on the primary:
            outcomes = op.batch_apply(rows=rows, ctx=ctx)
            problems = op.batch_conserve(rows=rows, outcomes=outcomes, ctx=ctx)
            (records, counters and cursor saved; a dry run rolls all of it back)
    op.verify(run=run)                           # post-conditions -> list of problems
    op.rollback_blockers(run=run, settle=...)    # rows a rollback would lose -> refused
    op.rollback_batch(records=[...], ctx=...)    # undo a batch of changed rows, idempotently
                                                 # (default: rollback_record for each)
    op.status(params=...)                        # migrated / pending / failed
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import models

from ledger.actors import Actor
from ledger.models import Workspace


@dataclass
class RowOutcome:
    """What a batch did (or would do) to one source row.

    ``action`` is ``changed``, ``skipped`` or ``failed`` (``RecordAction``); ``old`` and
    ``new`` are JSON values the rollback works from; ``totals`` are operation-specific
    sums added to ``Run.totals`` (e.g. ``{"credits": 120}``)."""

    key: str
    action: str
    old: dict | None = None
    new: dict | None = None
    message: str = ""
    totals: dict[str, int] = field(default_factory=dict)


@dataclass
class RecordedRows:
    """Rows of one action whose records the operation wrote itself, set-based, in the
    batch's transaction (not for dry runs, whose records outlive the rollback): counted
    and totalled like outcomes, never recorded twice. ``keys`` and ``details`` are what
    the operation's batch_conserve needs (e.g. the accounts the rows were given)."""

    action: str
    count: int
    totals: dict[str, int] = field(default_factory=dict)
    keys: list = field(default_factory=list)
    details: dict[str, list] = field(default_factory=dict)


@dataclass
class Context:
    """What a batch (or a rollback step) knows about the run it belongs to."""

    run: Any
    params: dict
    actor: Actor
    dry_run: bool = False
    read_alias: str = "default"
    settle: str | None = None


@dataclass
class CheckResult:
    """Preconditions: ``problems`` block the run (``forceable`` ones can be overridden with
    --force, recorded on the run); ``notes`` are informational counts shown to the user."""

    problems: list[str] = field(default_factory=list)
    forceable: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def blocking(self, *, force: bool) -> list[str]:
        return self.problems + ([] if force else self.forceable)


class Operation:
    """Base class of operations. Subclasses set the class attributes and implement
    :meth:`scope`, :meth:`batch_apply`, :meth:`batch_conserve`, :meth:`rollback_record`;
    the rest have working defaults."""

    #: Registry name, used on the command line (``migrate_credits key-credits``).
    name: ClassVar[str] = ""
    #: One line for ``migrate_credits --list``.
    description: ClassVar[str] = ""
    #: The quantity every batch keeps equal on both sides, in words (shown in docs/admin).
    conserves: ClassVar[str] = ""
    #: Parameters the operation accepts besides the framework's (name -> help).
    accepted_params: ClassVar[dict[str, str]] = {"workspace": "limit to one workspace"}
    #: ``--settle`` values rollback accepts (name -> meaning); empty: no settling.
    settle_modes: ClassVar[dict[str, str]] = {}

    # -- parameters and preconditions -----------------------------------------------------

    def params_clean(self, params: dict) -> dict:
        """Return the parameters with unknown names refused and empty values dropped."""
        from ..exceptions import InvalidParams

        unknown = sorted(set(params) - set(self.accepted_params))
        if unknown:
            raise InvalidParams(f"{self.name} does not take {', '.join(unknown)}")
        return {name: value for name, value in params.items() if value not in (None, "")}

    def check(self, *, params: dict, execute: bool, force: bool) -> CheckResult:
        """Return preconditions: blocking problems and counts. Runs before every start."""
        return CheckResult()

    # -- reading the source ----------------------------------------------------------------

    def scope(self, *, params: dict, using: str) -> models.QuerySet:
        """Return the source rows in scope (any order; the framework orders by pk)."""
        raise NotImplementedError

    def count(self, *, params: dict, using: str) -> int:
        """Return how many source rows are in scope."""
        return self.scope(params=params, using=using).count()

    def fingerprint(self, *, params: dict, using: str) -> dict:
        """Return counts and totals of the data a plan covers; any change makes it stale."""
        return {"rows": self.count(params=params, using=using)}

    def batch_read(self, *, params: dict, after: Any, limit: int, using: str) -> list:
        """Return up to ``limit`` rows with pk greater than ``after`` (None: from the
        start), in pk order: a keyset page, never OFFSET."""
        queryset = self.scope(params=params, using=using)
        if after is not None:
            queryset = queryset.filter(pk__gt=after)
        return list(queryset.order_by("pk")[:limit])

    def row_cursor(self, row: Any) -> Any:
        """Return the JSON cursor value of a row (its primary key)."""
        return row.pk

    # -- writing -----------------------------------------------------------------------------

    def batch_apply(self, *, rows: list, ctx: Context) -> list[RowOutcome | RecordedRows]:
        """Apply the batch inside the caller's transaction on the primary; return one
        outcome per row (or, for rows whose records it wrote itself, RecordedRows).
        Must be idempotent: rows already migrated come back ``skipped``. Per-row failures
        are outcomes (``failed``) written inside a savepoint; an exception fails the
        whole run."""
        raise NotImplementedError

    def batch_conserve(self, *, rows: list, outcomes: list[RowOutcome], ctx: Context) -> list[str]:
        """Return violations of :attr:`conserves` for this batch, measured from the
        database after the batch's writes; any violation rolls the batch back."""
        raise NotImplementedError

    # -- after the run ---------------------------------------------------------------------

    def verify(self, *, run: Any) -> list[str]:
        """Return post-conditions that do not hold after ``run`` (empty: verified)."""
        return []

    def verify_rollback(self, *, run: Any) -> list[str]:
        """Return what a rollback of ``run`` should have undone and did not (empty: the
        rolled-back state holds). The framework already checks every record is reverted."""
        return []

    def workspace_known(self, *, slug: str, using: str) -> bool:
        """Whether ``--workspace`` names a workspace this operation can work on. Default: a
        ledger workspace with that slug."""
        return Workspace.objects.using(using).filter(slug=slug).exists()

    def rollback_blockers(self, *, run: Any, settle: str | None) -> list[str]:
        """Return rows a rollback of ``run`` would lose (e.g. credits spent since), unless
        ``settle`` says how to settle them. Non-empty refuses the rollback."""
        return []

    def rollback_record(self, *, record: Any, ctx: Context) -> dict:
        """Undo one ``changed`` record, idempotently (it may be called again after a
        crash). Called outside any transaction: use services. Returns what it did."""
        raise NotImplementedError

    def rollback_batch(self, *, records: list, ctx: Context) -> dict[str, int]:
        """Undo a batch of ``changed`` records (in id order), idempotently; return what it
        did, summed. The framework marks them reverted once this returns. Called outside
        any transaction. Default: :meth:`rollback_record` for each; an operation whose
        undo can be set-based overrides this."""
        done: dict[str, int] = {}
        for record in records:
            for name, value in self.rollback_record(record=record, ctx=ctx).items():
                done[name] = done.get(name, 0) + value
        return done

    def run_lines(self, *, run: Any) -> list[str]:
        """Return lines ``migrate_credits`` prints above a run's summary table (dry run or
        real), e.g. one per source row ("User: email (user_id) - $X → Y credits - Would migrate"). Default:
        none."""
        return []

    def status(self, *, params: dict) -> dict[str, int]:
        """Return {"migrated": n, "pending": n} for the status view (failed comes from runs)."""
        return {"migrated": 0, "pending": self.count(params=params, using="default")}
