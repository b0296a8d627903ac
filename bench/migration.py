"""Migration throughput: ``migrate_credits key-credits --execute`` against the set-based limit,
and its ``--rollback`` against the execute.

- **Ours**: ``manage.py migrate_credits key-credits --execute --yes --json`` (phase dual) over
  1,000,000 legacy keys seeded by ``seed_legacy`` (10,000 with ``--quick``), in its own
  process, at batch sizes 500 (the default) and 5000. Rate = keys scanned / the run's own
  ``finished_at - started_at`` (the process's wall time, Django start and the preview
  included, is in the details). Peak memory = that process's max RSS (``os.wait4``),
  measured again over a tenth of the keys: it must not grow with the number of keys.
- **Set-based**: the same transformation on the same keys in the same database as five
  ``INSERT ... SELECT`` statements (workspaces, API keys, accounts with balance, totals,
  policy and entry_seq, migration lots, their first entries) in one transaction, ended by
  ``SET CONSTRAINTS ALL IMMEDIATE`` (the deferred balance checks a commit would run) and
  timed up to there, then rolled back so the keys stay unmigrated for ours. It writes no
  per-row run records (ours does, one per key).

- **Rollback**: ``migrate_credits --rollback RUN_ID --yes`` of each run of ours, right
  after it, in a process of its own; rate = keys undone / the time between the rollback's
  start and end audit events, compared with the execute's rate over the keys it migrated
  (the rows a rollback has to undo). Target: at least half.

Each run of ours gets a copy of the seeded database (``CREATE DATABASE ... TEMPLATE``) so
that all of them start from the same unmigrated state.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from bench.harness import (
    REPO,
    Context,
    Row,
    _admin_connect,
    database_drop,
    database_url,
    django_env,
    manage,
)

NAME = "migration"
FULL_KEYS = 1_000_000
#: Batch sizes ours runs at (the first is the command's default); ``BENCH_MIGRATION_BATCHES``
#: (e.g. "500") narrows it on a slow machine.
BATCH_SIZES = tuple(int(size) for size in os.environ.get("BENCH_MIGRATION_BATCHES", "500,5000").split(","))

#: Keys the operation migrates (the others are skipped or failed): live, limited, valid.
_ELIGIBLE = """
    k.deleted_at_m IS NULL AND k.remaining_requests IS NOT NULL
    AND k.remaining_requests BETWEEN 0 AND 1000000000000000
    AND (k.refill_day IS NULL OR k.refill_day BETWEEN 1 AND 31)
    AND (k.refill_amount IS NULL OR k.refill_amount BETWEEN 0 AND 1000000000000000)
    AND k.workspace_id ~ '^[-a-zA-Z0-9_]{1,64}$'
"""

SET_BASED = [
    f"""INSERT INTO ledger_workspace (slug, name, timezone, created_at)
        SELECT DISTINCT k.workspace_id, k.workspace_id, 'UTC', now() FROM keys k WHERE {_ELIGIBLE}
        ON CONFLICT (slug) DO NOTHING""",
    f"""INSERT INTO ledger_apikey (workspace_id, external_id, name, created_at)
        SELECT w.id, k.id, '', now() FROM keys k JOIN ledger_workspace w ON w.slug = k.workspace_id
         WHERE {_ELIGIBLE}
        ON CONFLICT (workspace_id, external_id) DO NOTHING""",
    f"""INSERT INTO ledger_creditaccount (workspace_id, owner_kind, api_key_id, balance, debt, overdraft_limit,
            total_earned, total_spent, total_expired, entry_seq, refill_amount, refill_interval, refill_day,
            last_refill_at, created_at, updated_at)
        SELECT w.id, 'api_key', a.id, k.remaining_requests, 0, 0, k.remaining_requests, 0, 0,
               CASE WHEN k.remaining_requests > 0 THEN 1 ELSE 0 END, k.refill_amount,
               CASE WHEN k.refill_amount IS NULL THEN '' WHEN k.refill_day IS NULL THEN 'daily' ELSE 'monthly' END,
               CASE WHEN k.refill_amount IS NULL THEN NULL ELSE k.refill_day END, k.last_refill_at, now(), now()
          FROM keys k JOIN ledger_workspace w ON w.slug = k.workspace_id
          JOIN ledger_apikey a ON a.workspace_id = w.id AND a.external_id = k.id
         WHERE {_ELIGIBLE}""",
    f"""INSERT INTO ledger_grant (account_id, kind, amount, remaining, priority, effective_from, reason, actor,
            idempotency_key, source, source_id, created_at)
        SELECT c.id, 'migration', k.remaining_requests, k.remaining_requests, 50, now(),
               'Key credits migration of ' || k.id, 'system:bench', 'key-credits:' || k.id || ':0',
               'key-credits', k.id, now()
          FROM keys k JOIN ledger_workspace w ON w.slug = k.workspace_id
          JOIN ledger_apikey a ON a.workspace_id = w.id AND a.external_id = k.id
          JOIN ledger_creditaccount c ON c.api_key_id = a.id
         WHERE {_ELIGIBLE} AND k.remaining_requests > 0""",
    """INSERT INTO ledger_ledgerentry (account_id, seq, entry_type, amount, balance_before, balance_after, lot_id,
            source, source_id, description, actor, idempotency_key, request_hash, created_at)
        SELECT g.account_id, 1, 'grant', g.amount, 0, g.amount, g.id, g.source, g.source_id,
               'Migrated from legacy key ' || g.source_id, g.actor, g.idempotency_key,
               encode(sha256(convert_to('{"amount":' || g.amount || ',"key":"' || g.source_id
                                        || '","op":"key-credits"}', 'UTF8')), 'hex'), now()
          FROM ledger_grant g WHERE g.kind = 'migration' AND g.source = 'key-credits'""",
    "SET CONSTRAINTS ALL IMMEDIATE",
]


def set_based(url: str) -> dict:
    """Run the set-based statements in one transaction, time them, roll them back."""
    import psycopg

    with psycopg.connect(url) as conn:
        keys = conn.execute("SELECT count(*) FROM keys").fetchone()[0]
        started = time.perf_counter()
        timings = []
        for statement in SET_BASED:
            begun = time.perf_counter()
            conn.execute(statement)
            timings.append(round(time.perf_counter() - begun, 2))
        elapsed = time.perf_counter() - started
        accounts = conn.execute("SELECT count(*) FROM ledger_creditaccount").fetchone()[0]
        conn.rollback()
    with psycopg.connect(url, autocommit=True) as conn:  # the rolled-back rows' dead tuples
        conn.execute("VACUUM ANALYZE")
    return {"keys": keys, "accounts": accounts, "seconds": round(elapsed, 2), "rate": keys / elapsed,
            "statement_seconds": timings}


def migrate(url: str, batch_size: int) -> dict:
    """Run the command in a process of its own; return its run's rate and the process's
    peak RSS (``os.wait4`` gives that child's own rusage)."""
    import psycopg

    manage(url, "key_credits_phase", "dual", "--reason", "bench", "--yes")
    env = django_env(url)
    command = [sys.executable, str(REPO / "manage.py"), "migrate_credits", "key-credits", "--execute", "--yes",
               "--json", "--batch-size", str(batch_size)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"migrate_credits exited {process.returncode}: {err.read().decode().strip()[-500:]}")
        summary = json.loads(out.read().decode().strip().splitlines()[-1])
    with psycopg.connect(url) as conn:
        seconds = float(conn.execute(
            "SELECT EXTRACT(EPOCH FROM finished_at - started_at) FROM migrations_ops_run WHERE id = %s",
            [summary["run_id"]],
        ).fetchone()[0])
    return {"batch_size": batch_size, "scanned": summary["scanned"], "changed": summary["changed"],
            "failed": summary["failed"], "status": summary["status"], "seconds": round(seconds, 2),
            "wall_seconds": round(wall, 2), "rate": summary["scanned"] / seconds,
            "changed_rate": summary["changed"] / seconds, "run_id": summary["run_id"],
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def rollback(url: str, run_id: int) -> dict:
    """Roll the run back with the command, in a process of its own; the rate is the changed
    rows undone over the time between the rollback's two audit events (its start and its
    end, both written by the rollback itself), so Django's start is left out as it is
    from the execute's rate."""
    import psycopg

    command = [sys.executable, str(REPO / "manage.py"), "migrate_credits", "--rollback", str(run_id), "--yes",
               "--json", "--reason", "bench"]
    done = subprocess.run(command, cwd=REPO, env=django_env(url), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"migrate_credits --rollback exited {done.returncode}: {done.stderr.strip()[-500:]}")
    reverted = json.loads(done.stdout.strip().splitlines()[-1])["rollback"]["reverted"]
    with psycopg.connect(url) as conn:
        seconds = float(conn.execute(
            "SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at)) FROM ledger_auditevent"
            " WHERE object_type = 'migration_run' AND object_id = %s"
            " AND action IN ('migration.rollback_start', 'migration.rollback')", [str(run_id)],
        ).fetchone()[0])
    return {"reverted": reverted, "seconds": round(seconds, 2), "rate": reverted / seconds}


def _copy(ctx: Context, suffix: str) -> str:
    name = ctx.child_database(suffix)
    database_drop(ctx.server_url, name)
    with _admin_connect(ctx.server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{ctx.database}"')
    return name


def _keep_first(url: str, keys: int) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        # Past the n-th id (read through the primary key), not NOT IN (first n): a NOT IN
        # list beyond work_mem is not hashed, and 900,000 rows each scanned it.
        conn.execute(
            "DELETE FROM keys WHERE id > (SELECT max(id) FROM (SELECT id FROM keys ORDER BY id LIMIT %s) AS first)", [keys]
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE keys")


def run(ctx: Context) -> list[Row]:
    keys = ctx.size(FULL_KEYS)
    details = ctx.details.setdefault(NAME, {"keys": keys})
    begun = time.perf_counter()
    manage(ctx.database_url, "seed_legacy", "--keys", str(keys), "--seed", "1")
    details["seed_seconds"] = round(time.perf_counter() - begun, 1)
    print(f"   seeded {keys:,} keys in {details['seed_seconds']}s", flush=True)
    copies = {size: _copy(ctx, f"mig{size}") for size in BATCH_SIZES}
    small = _copy(ctx, "migsmall")
    try:
        baseline = set_based(ctx.database_url)
        details["set_based"] = baseline
        print(f"   set-based: {baseline['rate']:,.0f} keys/s ({baseline['seconds']}s)", flush=True)
        ours = {}
        undone = {}
        for size, name in copies.items():
            url = database_url(ctx.server_url, name)
            ours[size] = migrate(url, size)
            print(f"   ours, batch {size}: {ours[size]['rate']:,.0f} keys/s ({ours[size]['seconds']}s), "
                  f"peak RSS {ours[size]['peak_rss_mb']} MB", flush=True)
            undone[size] = rollback(url, ours[size]["run_id"])
            undone[size]["ratio"] = undone[size]["rate"] / ours[size]["changed_rate"]
            database_drop(ctx.server_url, name)
            print(f"   rollback, batch {size}: {undone[size]['rate']:,.0f} keys/s ({undone[size]['seconds']}s) "
                  f"vs execute {ours[size]['changed_rate']:,.0f} migrated keys/s: {undone[size]['ratio']:.2f}x",
                  flush=True)
        small_url = database_url(ctx.server_url, small)
        _keep_first(small_url, keys // 10)
        tenth = migrate(small_url, BATCH_SIZES[0])
        print(f"   ours, batch {BATCH_SIZES[0]}, {keys // 10:,} keys: peak RSS {tenth['peak_rss_mb']} MB", flush=True)
    finally:
        for name in [*copies.values(), small]:
            database_drop(ctx.server_url, name)
    details["ours"] = {str(size): result for size, result in ours.items()}
    details["rollback"] = {str(size): result for size, result in undone.items()}
    details["ours_tenth"] = tenth
    note = f"{keys:,} keys; set-based: 5 INSERT...SELECT, no run records, {baseline['seconds']}s"
    rows = [
        Row(benchmark=f"key-credits migration, batch {size}", ours=result["rate"], baseline=baseline["rate"],
            unit="keys/s", notes=f"{note}; ours {result['seconds']}s" + (" (default)" if size == 500 else ""))
        for size, result in ours.items()
    ]
    rows += [
        Row(benchmark=f"key-credits rollback, batch {size}", ours=result["rate"], baseline=ours[size]["changed_rate"],
            unit="keys/s", notes=f"baseline: the execute's migrated keys/s; {result['reverted']:,} keys undone "
                                 f"in {result['seconds']}s (target >= 0.5x)")
        for size, result in undone.items()
    ]
    rows.append(Row(
        benchmark="key-credits migration peak RSS", ours=ours[BATCH_SIZES[0]]["peak_rss_mb"],
        baseline=tenth["peak_rss_mb"], unit="MB",
        notes=f"batch {BATCH_SIZES[0]}: {keys:,} keys vs a tenth ({keys // 10:,}); ratio ~1 = flat",
    ))
    return rows
