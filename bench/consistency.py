"""Consistency report over 1,000,000 accounts and 10,000,000 entries (and its neighbours).

The data is the shared :func:`bench.seed.ledger_seed` (seeded once per run, see
``bench/pages.py``). Three faults are planted first (triggers off) so that the report has
something to find, and removed afterwards: account 7's balance and total_earned moved by 1,
account 11's totals moved by 5, and an entry appended to account 13 with a gap in its
sequence and a broken chain. The run fails unless the report finds exactly those. Timed in
one Django process: the whole report, the report for one workspace (1/100 of the
accounts), the expiry report, a 90-day rebuild of the daily summaries (9 days with
``--quick``), the beat job's
2-day refresh and the overview dashboard. No baseline: seconds, lower is better.
"""
from __future__ import annotations

import time

import psycopg

from .harness import Context, Row, django_call
from .pages import ENTRIES, ledger_ready

NAME = "consistency"

_FAULTS = f"""
UPDATE ledger_creditaccount SET balance = balance + 1, total_earned = total_earned + 1 WHERE id = 7;
UPDATE ledger_creditaccount SET total_earned = total_earned + 5, total_spent = total_spent + 5 WHERE id = 11;
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after,
    source, source_id, description, actor, request_hash, created_at)
  VALUES (13, {ENTRIES} + 2, 'debit', -1, 999, 998, '', '', 'planted', 'bench', '', now())
"""
_FAULTS_UNDO = """
UPDATE ledger_creditaccount SET balance = balance - 1, total_earned = total_earned - 1 WHERE id = 7;
UPDATE ledger_creditaccount SET total_earned = total_earned - 5, total_spent = total_spent - 5 WHERE id = 11;
DELETE FROM ledger_ledgerentry WHERE account_id = 13 AND description = 'planted'
"""
EXPECTED = {
    ("balance_entries", 7), ("balance_lots", 7), ("totals", 7), ("totals", 11),
    ("seq_gap", 13), ("chain_break", 13), ("balance_entries", 13), ("totals", 13),
}


def _sql(ctx: Context, script: str) -> None:
    """Run ``script`` with the ledger triggers off (planting and removing faults)."""
    with psycopg.connect(ctx.database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        for statement in script.split(";"):
            conn.execute(statement)


def run(ctx: Context) -> list[Row]:
    seed = ledger_ready(ctx)
    _sql(ctx, _FAULTS)
    try:
        timings = django_call(ctx, reports_time, 9 if ctx.quick else 90)
    finally:
        _sql(ctx, _FAULTS_UNDO)
    ctx.details.setdefault(NAME, {}).update(timings)
    size = f"{seed['accounts']:,} accounts, {seed['entries']:,} entries"
    notes = {"consistency report": f"{size}; found exactly the {len(EXPECTED)} planted faults",
             "consistency report, one workspace": f"{seed['accounts'] // 100:,} accounts"}
    return [Row(benchmark=label, ours=seconds, unit="s", notes=notes.get(label, size))
            for label, seconds in timings.items() if label != "findings"]


def _timed(results: dict, label: str, function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    results[label] = round(time.perf_counter() - started, 3)
    return value


def reports_time(rebuild_days: int) -> dict:
    """In a Django process: time the reports, the summaries and the overview page."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.test import Client

    from ledger import clock
    from ledger.actors import Actor
    from ledger.reports import report_get
    from ledger.services.summaries import daily_summary_refresh

    results: dict = {}
    output = _timed(results, "consistency report", report_get("consistency").run)
    found = {(row[0], row[1]) for row in output.rows}
    if found != EXPECTED:
        raise AssertionError(f"the consistency report missed {EXPECTED - found} and found {found - EXPECTED}")
    _timed(results, "consistency report, one workspace", report_get("consistency").run, workspace_id=1)
    _timed(results, "expiry report", report_get("expiry").run)
    today = clock.now().date()
    actor = Actor.system("bench")
    _timed(results, f"daily summary rebuild, {rebuild_days} days", daily_summary_refresh,
           start=today - timedelta(days=rebuild_days - 1), end=today, actor=actor)
    _timed(results, "daily summary refresh, 2 days", daily_summary_refresh,
           start=today - timedelta(days=1), end=today, actor=actor)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-overview", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    client.get("/admin/dashboards/overview/")  # warm-up
    response = _timed(results, "overview dashboard", client.get, "/admin/dashboards/overview/")
    if response.status_code != 200:
        raise AssertionError(f"overview dashboard: {response.status_code}")
    return results
