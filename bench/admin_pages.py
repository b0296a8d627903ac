"""Time the back-office pages on a PostgreSQL database holding ~1,000,000 ledger entries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt3 .venv/bin/python bench/admin_pages.py

Creates (or recreates, with --reseed) a separate database named ``<database>_bench`` next
to the one in DATABASE_URL, migrates it, seeds it with set-based SQL (accounts x entries
per account: one purchase lot each, then debits drawing it, with their allocations; every
ledger invariant holds), then requests each page with Django's test client as a Support
user and prints the median time and the number of queries. Never touches the database
in DATABASE_URL itself.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GRANT = 10_000  # each account's purchase lot; debits of DEBIT credits draw it down
DEBIT = 10


def bench_url(url: str) -> tuple[str, str, str]:
    """Return (bench url, bench database name, maintenance url) for DATABASE_URL."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        sys.exit("bench/admin_pages.py needs DATABASE_URL=postgres://...")
    name = parts.path.lstrip("/") + "_bench"
    return urlunsplit(parts._replace(path="/" + name)), name, urlunsplit(parts._replace(path="/postgres"))


def database_prepare(maintenance: str, name: str, *, reseed: bool) -> bool:
    """Create the bench database; return True when it must be seeded."""
    import psycopg

    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not reseed:
            return False
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


SEED_SQL = """
INSERT INTO ledger_workspace (slug, name, timezone, created_at) VALUES ('bench', 'Bench Studio', 'UTC', now());
INSERT INTO ledger_customer (workspace_id, external_id, email, created_at)
  SELECT w.id, 'user-' || n, 'user' || n || '@bench.example', now()
  FROM ledger_workspace w, generate_series(1, %(accounts)s) n WHERE w.slug = 'bench';
INSERT INTO ledger_creditaccount (workspace_id, owner_kind, customer_id, balance, debt, overdraft_limit,
    total_earned, total_spent, total_expired, entry_seq, refill_interval, created_at, updated_at)
  SELECT c.workspace_id, 'customer', c.id, %(final)s, 0, 0, %(grant)s, %(spent)s, 0, %(per)s, '', now(), now()
  FROM ledger_customer c ORDER BY c.id;
INSERT INTO ledger_grant (account_id, kind, amount, remaining, priority, effective_from, expires_at, reason,
    actor, source, source_id, created_at)
  SELECT a.id, 'purchase', %(grant)s, %(final)s, 50, now() - interval '200 days', now() + interval '180 days',
         'Bench purchase', 'system:bench', '', '', now() - interval '200 days'
  FROM ledger_creditaccount a ORDER BY a.id;
INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, lot_id,
    source, source_id, description, actor, request_hash, created_at)
  SELECT a.id, s,
         CASE WHEN s = 1 THEN 'grant' ELSE 'debit' END,
         CASE WHEN s = 1 THEN %(grant)s ELSE -%(debit)s END,
         CASE WHEN s = 1 THEN 0 ELSE %(grant)s - %(debit)s * (s - 2) END,
         %(grant)s - %(debit)s * (s - 1),
         CASE WHEN s = 1 THEN g.id END,
         CASE WHEN s = 1 THEN '' ELSE 'task' END,
         CASE WHEN s = 1 THEN '' ELSE a.id || '-' || s END,
         CASE WHEN s = 1 THEN 'Bench purchase' ELSE 'Render task ' || a.id || '-' || s END,
         'system:bench', '',
         now() - make_interval(mins => (%(per)s - s) * 60)
  FROM generate_series(1, %(per)s) s
  CROSS JOIN ledger_creditaccount a JOIN ledger_grant g ON g.account_id = a.id
  ORDER BY s, a.id;
INSERT INTO ledger_allocation (entry_id, lot_id, amount, refunded)
  SELECT e.id, e.account_id, %(debit)s, 0 FROM ledger_ledgerentry e WHERE e.entry_type = 'debit';
"""


#: Accounts whose balance is not their last entry's balance_after or their lots minus debt.
INVARIANTS_SQL = """
SELECT count(*) FROM ledger_creditaccount a
WHERE a.balance <> (SELECT e.balance_after FROM ledger_ledgerentry e WHERE e.account_id = a.id
                    ORDER BY e.seq DESC LIMIT 1)
   OR a.balance <> (SELECT sum(g.remaining) FROM ledger_grant g WHERE g.account_id = a.id) - a.debt
   OR a.entry_seq <> (SELECT count(*) FROM ledger_ledgerentry e WHERE e.account_id = a.id)
"""


def seed(*, accounts: int, per_account: int) -> None:
    """Fill the bench database in a few set-based statements (one transaction)."""
    from django.db import connection, transaction

    spent = DEBIT * (per_account - 1)
    params = {"accounts": accounts, "per": per_account, "grant": GRANT, "debit": DEBIT, "spent": spent,
              "final": GRANT - spent}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # The rows are built to satisfy every ledger trigger (chained balances, account =
        # last entry = lots - debt); skipping the per-row trigger checks only saves time
        # in this throwaway database.
        cursor.execute("SET LOCAL session_replication_role = replica")
        for statement in filter(str.strip, SEED_SQL.split(";")):
            cursor.execute(statement, params)
    # The grant ids equal the account ids here (both made in id order into empty tables);
    # the allocation insert relies on it, and this proves it held.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_grant WHERE id <> account_id")
        assert cursor.fetchone()[0] == 0, "grant ids do not match account ids"
        cursor.execute(INVARIANTS_SQL)
        assert cursor.fetchone()[0] == 0, "seeded accounts break the ledger invariants"
        cursor.execute("VACUUM ANALYZE")
    print(f"seeded {accounts:,} accounts x {per_account} entries in {time.perf_counter() - started:.1f}s")


def measure(pages: dict[str, str], *, runs: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from ledger.roles import SUPPORT

    user, _ = get_user_model().objects.get_or_create(username="bench-support", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=SUPPORT))
    client = Client()
    client.force_login(user)
    print(f"{'page':<34} {'median ms':>10} {'max ms':>8} {'SQL ms':>8} {'queries':>8}")
    for label, url in pages.items():
        timings, sql = [], []
        for _ in range(runs + 1):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                body = b"".join(response.streaming_content) if response.streaming else response.content
                timings.append((time.perf_counter() - started) * 1000)
            sql.append(sum(float(query["time"]) for query in queries.captured_queries) * 1000)
            assert response.status_code == 200, (label, response.status_code, body[:300])
        timings, sql = timings[1:], sql[1:]  # the first run warms caches
        print(f"{label:<34} {statistics.median(timings):>10.1f} {max(timings):>8.1f} "
              f"{statistics.median(sql):>8.1f} {len(queries):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--entries-per-account", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reseed", action="store_true", help="drop and re-seed the bench database")
    args = parser.parse_args()
    url, name, maintenance = bench_url(os.environ.get("DATABASE_URL", ""))
    must_seed = database_prepare(maintenance, name, reseed=args.reseed)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if must_seed:
        seed(accounts=args.accounts, per_account=args.entries_per_account)
    from ledger.models import CreditAccount, LedgerEntry

    middle = CreditAccount.objects.order_by("id")[CreditAccount.objects.count() // 2]
    print(f"database {name}: {LedgerEntry.objects.order_by().count():,} entries, "
          f"{CreditAccount.objects.count():,} accounts")
    pages = {
        "accounts list": "/admin/ledger/creditaccount/",
        "accounts search (email)": f"/admin/ledger/creditaccount/?q={middle.customer.email}",
        "accounts by owner kind": "/admin/ledger/creditaccount/?owner_kind__exact=customer",
        "account page": f"/admin/ledger/creditaccount/{middle.pk}/change/",
        "entries list": "/admin/ledger/ledgerentry/",
        "entries list, page 50": "/admin/ledger/ledgerentry/?p=50",
        "entries of one account": f"/admin/ledger/ledgerentry/?account={middle.pk}",
        "entries by type (grant)": "/admin/ledger/ledgerentry/?entry_type__exact=grant",
        "entries, past 7 days": "/admin/ledger/ledgerentry/?created_at__gte="
                                + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 7 * 86400)) + "%2000:00:00%2B00:00",
        "account history CSV (100 rows)": f"/admin/ledger/creditaccount/{middle.pk}/history.csv",
        "grant form": f"/admin/ledger/creditaccount/{middle.pk}/grant/",
        "audit page": "/admin/ledger/auditevent/",
    }
    measure(pages, runs=args.runs)


if __name__ == "__main__":
    main()
