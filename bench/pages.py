"""Admin and API latency with 10,000,000 entries: p50 and p99 of three pages.

The data: :func:`bench.seed.ledger_seed`, 1,000,000 accounts x 10 entries (10,000 x 10 with
``--quick``), seeded once per run and shared with the consistency benchmark. In one Django
process (DEBUG off) with the test client: a staff superuser (admin pages) and an API token
with the read ability (API), both created in the bench database; each page is requested
``RUNS`` times after one warm-up, on accounts spread over the table, and the p50 and p99 of
the whole request (view, templates, SQL) are reported. The other back-office pages are
timed a few times each too (median, in the JSON details; not with ``--quick``). There is no baseline row: these
are response times, lower is better.
"""
from __future__ import annotations

import os
import time

import psycopg

from .harness import Context, Row, django_call, percentile
from .seed import ledger_seed

NAME = "pages"
ACCOUNTS = 1_000_000
ENTRIES = 10
RUNS = 200
OTHER_RUNS = 5
#: The API throttles reads per token; the bench must not hit it.
os.environ.setdefault("CREDITS_API_RATE_READ", "1000000/min")


def ledger_ready(ctx: Context) -> dict:
    """Seed :func:`ledger_seed` once per run (the consistency benchmark reuses it)."""
    shared = ctx.details.setdefault("seed", {})
    if not shared:
        accounts = ctx.size(ACCOUNTS, minimum=100)
        with psycopg.connect(ctx.database_url, autocommit=True) as conn:
            seconds = ledger_seed(conn, accounts=accounts, entries=ENTRIES)
        shared.update(accounts=accounts, entries=accounts * ENTRIES, seconds=round(seconds, 1))
    return shared


def run(ctx: Context) -> list[Row]:
    seed = ledger_ready(ctx)
    runs = RUNS // 10 if ctx.quick else RUNS
    # --quick skips the other pages (CI's two minutes); the three measured ones still run.
    timings = django_call(ctx, pages_time, seed["accounts"], runs, 0 if ctx.quick else OTHER_RUNS)
    details = ctx.details.setdefault(NAME, {})
    details.update(runs=runs, **{label: result for label, result in timings.items()})
    size = f"{seed['entries']:,} entries, {seed['accounts']:,} accounts; {runs} requests"
    rows = []
    for label in MAIN:
        result = timings[label]
        rows.append(Row(benchmark=f"{label} p50", ours=result["p50_ms"], unit="ms",
                        notes=f"{size}; {result['queries']} queries"))
        rows.append(Row(benchmark=f"{label} p99", ours=result["p99_ms"], unit="ms", notes=size))
    return rows


MAIN = ("admin account page", "admin entries list", "API balance")


def pages_time(accounts: int, runs: int, other_runs: int) -> dict:
    """In a Django process: time each page; return {label: {p50_ms, p99_ms, queries}}."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from ledger.actors import Actor
    from ledger.services.api_tokens import api_token_create

    user = get_user_model().objects.create_superuser("bench-admin", "bench@bench.test", "bench")
    admin = Client()
    admin.force_login(user)
    token = api_token_create(workspace_id=1, name="bench", abilities=["read"], actor=Actor.staff(user)).raw
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    # Accounts of workspace 1 (the token's): ids 100, 200, ... spread over the whole table.
    step = max(1, accounts // runs // 100) * 100
    ids = [i for i in range(100, accounts + 1, step)][:runs] or [100]
    middle = ids[len(ids) // 2]
    main = {
        "admin account page": (admin, [f"/admin/ledger/creditaccount/{i}/change/" for i in ids]),
        "admin entries list": (admin, ["/admin/ledger/ledgerentry/"]),
        "API balance": (api, [f"/api/v1/accounts/{i}/balance/" for i in ids]),
    }
    other = {
        "accounts list": "/admin/ledger/creditaccount/",
        "accounts search (email)": f"/admin/ledger/creditaccount/?q=u{middle}@bench.test",
        "entries list, page 50": "/admin/ledger/ledgerentry/?p=50",
        "entries of one account": f"/admin/ledger/ledgerentry/?account={middle}",
        "entries by type (grant)": "/admin/ledger/ledgerentry/?entry_type__exact=grant",
        "account history CSV": f"/admin/ledger/creditaccount/{middle}/history.csv",
        "API entries": f"/api/v1/accounts/{middle}/entries/",
    }
    results = {}
    for label, (client, urls) in main.items():
        timings, queries = _times(client, connection, CaptureQueriesContext, urls, runs)
        results[label] = {"p50_ms": percentile(timings, 0.5), "p99_ms": percentile(timings, 0.99), "queries": queries}
    for label, url in other.items() if other_runs else ():
        client = api if url.startswith("/api/") else admin
        timings, queries = _times(client, connection, CaptureQueriesContext, [url], other_runs)
        results[label] = {"p50_ms": percentile(timings, 0.5), "queries": queries}
    return results


def _times(client, connection, capture, urls: list[str], runs: int) -> tuple[list[float], int]:
    """Request ``runs`` times, cycling through ``urls`` after one warm-up; return the
    milliseconds of each and the queries of the last."""
    timings = []
    for index in range(runs + 1):
        url = urls[index % len(urls)]
        with capture(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise AssertionError(f"{url}: {response.status_code} {body[:300]!r}")
        if index:
            timings.append(elapsed)
    return timings, len(queries)
