"""The consistency report: every ledger invariant of DESIGN.md checked in set-based SQL.

Each check is one statement over whole tables (no loop over accounts) and returns finding
rows ``[check, account, workspace, subject, expected, actual]``. More checks register
themselves with :func:`consistency_check` from their own module (the key-credits dual-write
comparison: ``consistency_key_credits.py``); a check that does not apply now raises
:class:`CheckSkipped` and the report notes why.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Max

from .. import clock
from ..models import LedgerEntry
from ..totals import TOTAL_FIELDS, totals_aggregates
from . import report_register
from .base import Report, ReportOutput
from .sql import ACCOUNTS, ENTRIES, LOTS, WORKSPACES, in_workspace, limit_clause, queryset_sql, rows_fetch

CheckFunction = Callable[..., list[list]]


class CheckSkipped(Exception):
    """Raised by a check that does not apply now (say why); the report notes it and goes on."""


@dataclass(frozen=True)
class Check:
    name: str
    label: str
    function: CheckFunction
    order: int


_CHECKS: dict[str, Check] = {}


def consistency_check(name: str, label: str, *, order: int = 100) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check: a function ``(*, workspace_id, limit) -> rows`` returning finding
    rows ``[check, account_id, workspace_slug, subject, expected, actual]``."""

    def register(function: CheckFunction) -> CheckFunction:
        _CHECKS[name] = Check(name=name, label=label, function=function, order=order)
        return function

    return register


def checks_all() -> list[Check]:
    return sorted(_CHECKS.values(), key=lambda check: (check.order, check.name))


# Account-level checks share one pass over entries and lots; these name their findings.
ACCOUNT_CHECKS = {
    "balance_entries": "Stored balance differs from the sum of the account's entries",
    "balance_lots": "Stored balance differs from its lots' remaining minus its debt",
    "totals": "Stored totals (earned, spent, expired) differ from the entries",
}


def _account_rows(*, workspace_id: int | None, limit: int | None) -> list[tuple]:
    entries = LedgerEntry.objects.values("account_id").annotate(**totals_aggregates(), max_seq=Max("seq")).order_by()
    if workspace_id is not None:
        entries = entries.filter(account__workspace_id=workspace_id)
    entries_sql, entries_params = queryset_sql(entries)
    lots_filter, lots_params = in_workspace("account_id", workspace_id)
    account_filter = " AND a.workspace_id = %s" if workspace_id is not None else ""
    mismatch = " OR ".join(
        f"a.{name} <> COALESCE(e.{name}, 0)" for name in ("balance", *TOTAL_FIELDS)
    )
    sql = f"""
        SELECT a.id, w.slug, a.balance, a.debt, a.entry_seq,
               a.total_earned, a.total_spent, a.total_expired,
               COALESCE(e.balance, 0), COALESCE(e.total_earned, 0), COALESCE(e.total_spent, 0),
               COALESCE(e.total_expired, 0), COALESCE(e.max_seq, 0), COALESCE(g.in_lots, 0)
          FROM {ACCOUNTS} a
          JOIN {WORKSPACES} w ON w.id = a.workspace_id
          LEFT JOIN ({entries_sql}) e ON e.account_id = a.id
          LEFT JOIN (SELECT account_id, SUM(remaining) AS in_lots FROM {LOTS}
                      WHERE 1 = 1{lots_filter} GROUP BY account_id) g ON g.account_id = a.id
         WHERE ({mismatch} OR a.entry_seq <> COALESCE(e.max_seq, 0)
                OR a.balance <> COALESCE(g.in_lots, 0) - a.debt){account_filter}
         ORDER BY a.id{limit_clause(limit)}"""
    params = [*entries_params, *lots_params, *([workspace_id] if workspace_id is not None else [])]
    return rows_fetch(sql, params)


@consistency_check("accounts", "Account balances and totals against entries and lots", order=10)
def accounts_check(*, workspace_id: int | None, limit: int | None) -> list[list]:
    """Compare each account's stored figures with its entries and its lots, in one pass."""
    findings = []
    for row in _account_rows(workspace_id=workspace_id, limit=limit):
        account, slug, balance, debt, entry_seq = row[:5]
        stored_totals, entry_totals = row[5:8], row[9:12]
        entries_sum, max_seq, in_lots = row[8], row[12], row[13]
        if balance != entries_sum:
            findings.append(["balance_entries", account, slug, "balance", entries_sum, balance])
        if balance != in_lots - debt:
            findings.append(["balance_lots", account, slug, "balance", in_lots - debt, balance])
        for name, stored, computed in zip(TOTAL_FIELDS, stored_totals, entry_totals):
            if stored != computed:
                findings.append(["totals", account, slug, name, computed, stored])
        if entry_seq != max_seq:
            findings.append(["seq_gap", account, slug, "entry_seq", max_seq, entry_seq])
    return findings


@consistency_check("chain", "Entries that do not start where the previous one ended, or skip a seq", order=20)
def chain_check(*, workspace_id: int | None, limit: int | None) -> list[list]:
    """Find entries whose balance_before is not the previous balance_after (LAG over the
    account's seq order) and gaps in seq (the first entry is seq 1 and starts at 0)."""
    entry_filter, params = in_workspace("account_id", workspace_id)
    sql = f"""
        SELECT t.account_id, w.slug, t.seq, t.balance_before, t.prev_after, t.prev_seq
          FROM (SELECT account_id, seq, balance_before,
                       LAG(balance_after) OVER (PARTITION BY account_id ORDER BY seq) AS prev_after,
                       LAG(seq) OVER (PARTITION BY account_id ORDER BY seq) AS prev_seq
                  FROM {ENTRIES} WHERE 1 = 1{entry_filter}) t
          JOIN {ACCOUNTS} a ON a.id = t.account_id
          JOIN {WORKSPACES} w ON w.id = a.workspace_id
         WHERE t.seq <> COALESCE(t.prev_seq, 0) + 1
            OR t.balance_before <> COALESCE(t.prev_after, 0)
         ORDER BY t.account_id, t.seq{limit_clause(limit)}"""
    findings = []
    for account, slug, seq, before, prev_after, prev_seq in rows_fetch(sql, params):
        expected_seq = (prev_seq or 0) + 1
        if seq != expected_seq:
            findings.append(["seq_gap", account, slug, f"entry seq {seq}", expected_seq, seq])
        if before != (prev_after or 0):
            findings.append(["chain_break", account, slug, f"entry seq {seq}", prev_after or 0, before])
    return findings


@consistency_check("lots", "Lots whose remaining is below 0 or above their amount", order=30)
def lots_check(*, workspace_id: int | None, limit: int | None) -> list[list]:
    """Find lots outside ``0 <= remaining <= amount`` (a constraint the database should
    already refuse; this catches rows loaded around it)."""
    lot_filter, params = in_workspace("g.account_id", workspace_id)
    sql = f"""
        SELECT g.account_id, w.slug, g.id, g.amount, g.remaining
          FROM {LOTS} g
          JOIN {ACCOUNTS} a ON a.id = g.account_id
          JOIN {WORKSPACES} w ON w.id = a.workspace_id
         WHERE (g.remaining < 0 OR g.remaining > g.amount){lot_filter}
         ORDER BY g.account_id, g.id{limit_clause(limit)}"""
    return [
        ["lot_bounds", account, slug, f"lot {lot}", f"0..{amount}", remaining]
        for account, slug, lot, amount, remaining in rows_fetch(sql, params)
    ]


CHECK_LABELS = {
    **ACCOUNT_CHECKS,
    "seq_gap": "Entries skip a sequence number, or the account's entry_seq is not its last entry",
    "chain_break": "An entry's balance_before is not the previous entry's balance_after",
    "lot_bounds": "A lot's remaining is below 0 or above its amount",
}


_BUILT_IN = {"accounts", "chain", "lots"}


@report_register
class ConsistencyReport(Report):
    name = "consistency"
    title = "Ledger consistency"
    columns = ["check", "account", "workspace", "subject", "expected", "actual"]
    description = "Every ledger invariant, checked set-based: balances, totals, chains, lots."
    fails_on_findings = True
    health = "stored"

    def run(self, *, workspace_id: int | None = None, limit: int | None = None) -> ReportOutput:
        """Run every registered check; ``limit`` caps the rows each check returns."""
        generated_at = clock.now()
        rows: list[list] = []
        skipped: list[str] = []
        for check in checks_all():
            try:
                rows += check.function(workspace_id=workspace_id, limit=limit)
            except CheckSkipped as reason:
                skipped.append(f"{check.name}: skipped: {reason}")
        rows.sort(key=lambda row: (row[1], row[0], str(row[3])))
        by_check: dict[str, int] = {}
        for row in rows:
            by_check[row[0]] = by_check.get(row[0], 0) + 1
        return self.output(
            rows=rows,
            params={"workspace": workspace_id, "limit": limit},
            generated_at=generated_at,
            summary={"checks_run": len(_CHECKS) - len(skipped), **({"checks_skipped": len(skipped)} if skipped else {}),
                     **{f"{name} findings": count for name, count in sorted(by_check.items())}},
            notes=[f"{name}: {label}" for name, label in CHECK_LABELS.items()]
            + [f"{check.name}: {check.label}" for check in checks_all() if check.name not in _BUILT_IN] + skipped,
        )
