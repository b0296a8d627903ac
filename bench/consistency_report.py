"""Benchmark the consistency report and the credits overview on a large PostgreSQL ledger.

Creates a scratch database (its name contains ``wt6``), migrates it, seeds ACCOUNTS
accounts with ENTRIES_PER_ACCOUNT chained entries each using generate_series (triggers off
while loading, the data consistent by construction), plants a few known faults, then times:
the consistency report, the expiry report, a 90-day daily summary rebuild, the daily job's
2-day refresh and the overview page. Drops the database at the end unless --keep.

    .venv/bin/python bench/consistency_report.py --accounts 100000        # a quick run
    .venv/bin/python bench/consistency_report.py                          # 1,000,000 x 10
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
WORKSPACES = 100


def timed(label: str, function, *args, **kwargs):
    started = time.monotonic()
    value = function(*args, **kwargs)
    print(f"  {label:<44} {time.monotonic() - started:8.2f} s", flush=True)
    return value


def database_recreate(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(name: str) -> None:
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


SEED = """
SET session_replication_role = replica;
INSERT INTO ledger_workspace (id, slug, name, timezone, created_at)
  SELECT w, 'bench-' || w, 'Bench ' || w, 'UTC', now() - interval '200 days' FROM generate_series(1, {workspaces}) w;
INSERT INTO ledger_customer (id, workspace_id, external_id, email, created_at)
  SELECT i, 1 + i % {workspaces}, 'u' || i, 'u' || i || '@bench.test', now() - interval '200 days'
    FROM generate_series(1, {accounts}) i;
-- Entry 1 grants 1000; entries 2..K spend 10 each, except that every fifth account's last
-- entry is an expiry of 10. Final balance 1000 - 10 (K - 1) = lot remaining.
INSERT INTO ledger_creditaccount (id, workspace_id, owner_kind, customer_id, balance, debt, overdraft_limit,
    total_earned, total_spent, total_expired, entry_seq, refill_interval, created_at, updated_at)
  SELECT i, 1 + i % {workspaces}, 'customer', i, 1000 - 10 * ({k} - 1), 0, 0, 1000,
         10 * ({k} - 1) - CASE WHEN i % 5 = 0 THEN 10 ELSE 0 END, CASE WHEN i % 5 = 0 THEN 10 ELSE 0 END,
         {k}, '', now() - interval '200 days', now()
    FROM generate_series(1, {accounts}) i;
INSERT INTO ledger_grant (id, account_id, kind, amount, remaining, priority, effective_from, expires_at,
    reason, actor, source, source_id, created_at)
  SELECT i, i, 'purchase', 1000, 1000 - 10 * ({k} - 1), 50, now() - interval '100 days',
         CASE WHEN i % 3 = 0 THEN now() + (i % 60) * interval '1 day' + interval '1 hour' END,
         '', 'bench', '', '', now() - interval '100 days'
    FROM generate_series(1, {accounts}) i;
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, lot_id,
    source, source_id, description, actor, request_hash, created_at)
  SELECT i, s,
         CASE WHEN s = 1 THEN 'grant' WHEN s = {k} AND i % 5 = 0 THEN 'expire' ELSE 'debit' END,
         CASE WHEN s = 1 THEN 1000 ELSE -10 END,
         CASE WHEN s = 1 THEN 0 ELSE 1000 - 10 * (s - 2) END,
         1000 - 10 * (s - 1), CASE WHEN s = 1 THEN i END,
         '', '', '', 'bench', '', now() - interval '95 days' + (s - 1) * interval '9 days' + (i % 9) * interval '1 day'
    FROM generate_series(1, {accounts}) i CROSS JOIN generate_series(1, {k}) s;
SELECT setval(pg_get_serial_sequence('ledger_workspace', 'id'), {workspaces});
SELECT setval(pg_get_serial_sequence('ledger_customer', 'id'), {accounts});
SELECT setval(pg_get_serial_sequence('ledger_creditaccount', 'id'), {accounts});
SELECT setval(pg_get_serial_sequence('ledger_grant', 'id'), {accounts});
SET session_replication_role = origin;
"""

#: Faults the report must find: (check, account).
FAULTS = """
SET session_replication_role = replica;
UPDATE ledger_creditaccount SET balance = balance + 1, total_earned = total_earned + 1 WHERE id = 7;
UPDATE ledger_creditaccount SET total_earned = total_earned + 5, total_spent = total_spent + 5 WHERE id = 11;
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after,
    source, source_id, description, actor, request_hash, created_at)
  VALUES (13, {k} + 2, 'debit', -1, 999, 998, '', '', 'planted', 'bench', '', now());
SET session_replication_role = origin;
"""
EXPECTED = {
    ("balance_entries", 7), ("balance_lots", 7), ("totals", 7), ("totals", 11),
    ("seq_gap", 13), ("chain_break", 13), ("balance_entries", 13), ("totals", 13),
}


def run_sql(script: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(script)


def overview_time(client) -> float:
    started = time.monotonic()
    response = client.get("/admin/dashboards/overview/")
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.status_code
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--entries-per-account", type=int, default=10)
    parser.add_argument("--database", default="wt6_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--overview-only", action="store_true",
                        help="reuse a database kept by --keep: migrate, then time only the overview")
    args = parser.parse_args()
    if "wt6" not in args.database:
        parser.error("the scratch database's name must contain wt6")
    k = args.entries_per_account
    print(f"bench: {args.accounts:,} accounts x {k} entries = {args.accounts * k:,} entries in {args.database}", flush=True)
    if not args.overview_only:
        database_recreate(args.database)
    os.environ["DATABASE_URL"] = f"{SERVER}/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from ledger import clock
    from ledger.actors import Actor
    from ledger.reports import report_get
    from ledger.services.summaries import daily_summary_refresh

    try:
        timed("migrate", call_command, "migrate", verbosity=0)
        if args.overview_only:
            overview_measure(get_user_model(), Client)
            return
        timed("seed (generate_series)", run_sql, SEED.format(workspaces=WORKSPACES, accounts=args.accounts, k=k))
        timed("plant faults", run_sql, FAULTS.format(k=k))
        timed("VACUUM ANALYZE", _vacuum)
        output = timed("consistency report (all checks)", report_get("consistency").run)
        found = {(row[0], row[1]) for row in output.rows}
        print(f"  -> {output.findings} findings; expected exactly the planted ones: {found == EXPECTED}")
        if found != EXPECTED:
            print(f"     missing {EXPECTED - found}, extra {found - EXPECTED}")
        timed("consistency report, one workspace", report_get("consistency").run, workspace_id=1)
        expiry = timed("expiry report", report_get("expiry").run)
        print(f"  -> {expiry.findings:,} users; summary {expiry.summary}")
        today = clock.now().date()
        actor = Actor.system("bench")
        timed("daily summary rebuild, 90 days", daily_summary_refresh, start=today - timedelta(days=89), end=today, actor=actor)
        timed("daily summary refresh, 2 days (beat job)", daily_summary_refresh, start=today - timedelta(days=1), end=today, actor=actor)
        overview_measure(get_user_model(), Client)
    finally:
        if not args.keep:
            database_drop(args.database)


def overview_measure(user_model, client_class) -> None:
    user, _ = user_model.objects.get_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})
    client = client_class()
    client.force_login(user)
    overview_time(client)  # warm-up
    times = sorted(overview_time(client) for _ in range(5))
    print(f"  {'overview page (median of 5, all workspaces)':<44} {times[2]:8.2f} s")
    client.get("/admin/dashboards/overview/?workspace=bench-1")
    times = sorted(overview_time_ws(client) for _ in range(5))
    print(f"  {'overview page (median of 5, one workspace)':<44} {times[2]:8.2f} s")
    selectors_time()


def selectors_time() -> None:
    """Time each query of the overview on its own (best of 3), all workspaces and one."""
    from ledger.selectors import dashboards as d

    calls = {
        "summary_series": lambda ws: d.summary_series(workspace_id=ws),
        "outstanding_now": lambda ws: d.outstanding_now(workspace_id=ws),
        "accounts_top balance": lambda ws: d.accounts_top(workspace_id=ws, order="balance"),
        "accounts_top total_spent": lambda ws: d.accounts_top(workspace_id=ws, order="total_spent"),
        "expiring_soon": lambda ws: d.expiring_soon(workspace_id=ws),
        "summary_refreshed_at": lambda ws: d.summary_refreshed_at(),
    }
    for label, call in calls.items():
        for ws in (None, 1):
            best = min(_once(call, ws) for _ in range(3))
            print(f"    {label + (' (one workspace)' if ws else ''):<42} {best * 1000:8.1f} ms")


def _once(call, ws) -> float:
    started = time.monotonic()
    call(ws)
    return time.monotonic() - started


def overview_time_ws(client) -> float:
    started = time.monotonic()
    response = client.get("/admin/dashboards/overview/?workspace=bench-1")
    assert response.status_code == 200
    return time.monotonic() - started


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


if __name__ == "__main__":
    main()
