"""Ledger write throughput: debits per second through ``debit_create``, 8 workers.

Against two baselines on the same server: pgbench's TPC-B-like run (update a balance,
insert a history row: the database's own limit for this kind of work) and the same load,
the same way (same workers, same accounts, one transaction per debit) through
django-hordak's ``Account.transfer_to``, the best-known Django ledger.
"""
from __future__ import annotations

import importlib.util
import random
import time
from datetime import timedelta

from .harness import Context, Row, Skipped, django_call, django_processes, manage, percentile, pgbench_tpcb

NAME = "ledger_writes"
HORDAK_SETTINGS = "bench.settings_hordak"
#: Lots per account: each expires a month after the previous one, the last never does,
#: so a debit walks the consumption order and sometimes spans two lots.
LOTS = 5
LOT_CREDITS = 1_000
#: A debit takes 1..MAX_DEBIT credits: about 100 debits an account (the full run's
#: load) span one or two lots and never exhaust the account.
MAX_DEBIT = 40


def run(ctx: Context) -> list[Row]:
    accounts = ctx.size(1_000, minimum=10)
    ids = django_call(ctx, ledger_seed, accounts)
    ours = debits_measure(ctx, ids, debit_worker)
    details = ctx.details.setdefault(NAME, {})
    details.update(accounts=accounts, lots_per_account=LOTS, workers=ctx.workers, ours=ours)
    rows = [Row(
        benchmark="debits/s vs pgbench TPC-B tps", ours=ours["rate"], unit="tx/s",
        notes=f"{ctx.workers} workers, {accounts} accounts x {LOTS} lots, {ours['count']} debits",
    )]
    try:
        # Scale = clients (one branch each, as pgbench's docs advise); 1 with --quick, whose
        # 10 accounts are as contended.
        scale = 1 if ctx.quick else ctx.workers
        pgbench = pgbench_tpcb(ctx, clients=ctx.workers, threads=2, seconds=ctx.seconds, scale=scale)
        details["pgbench"] = pgbench
        rows[0].baseline = pgbench["tps"]
        rows[0].notes += f"; pgbench -c {ctx.workers} -j 2 -s {scale}; target >= 0.50x"
    except Skipped as reason:
        pgbench = {}
        rows[0].notes += f"; pgbench skipped: {reason}"
    for label, key in (("p50", "p50_ms"), ("p99", "p99_ms")):
        rows.append(Row(benchmark=f"debit latency {label} vs pgbench", ours=ours[key], baseline=pgbench.get(key),
                        unit="ms", notes="lower is better"))
    rows.extend(hordak_rows(ctx, ids, ours))
    return rows


def hordak_rows(ctx: Context, ids: list[int], ours: dict) -> list[Row]:
    """The same load through django-hordak; skipped with the reason when it is not installed."""
    if importlib.util.find_spec("hordak") is None:
        reason = "django-hordak not installed (make bench installs bench/requirements.txt)"
        return [Row(benchmark="debits/s vs hordak transfer_to", ours=ours["rate"], unit="tx/s",
                    notes=f"hordak skipped: {reason}")]
    manage(ctx.database_url, "migrate", "--noinput", settings=HORDAK_SETTINGS)
    hordak_ids = django_call(ctx, hordak_seed, len(ids), settings=HORDAK_SETTINGS)
    theirs = debits_measure(ctx, hordak_ids, hordak_worker, settings=HORDAK_SETTINGS)
    ctx.details[NAME]["hordak"] = theirs
    # Ours over theirs: how many times faster we are.
    return [
        Row(benchmark="debits/s vs hordak transfer_to", ours=ours["rate"], baseline=theirs["rate"], unit="tx/s",
            notes=f"django-hordak 2.0 (no lots, no balance check), {theirs['count']} transfers"),
        Row(benchmark="debit latency p50 vs hordak", ours=ours["p50_ms"], baseline=theirs["p50_ms"], unit="ms",
            notes="lower is better"),
    ]


def debits_measure(ctx: Context, ids: list[int], worker, *, settings: str = "creditsite.settings") -> dict:
    """Run ``worker`` in ctx.workers processes for ctx.seconds; return rate and latencies."""
    results = django_processes(
        ctx, worker, [(index, ids, ctx.seconds) for index in range(ctx.workers)], settings=settings
    )
    latencies = [ms for result in results for ms in result["latencies"]]
    elapsed = max(result["elapsed"] for result in results)
    return {
        "count": len(latencies),
        "refused": sum(result["refused"] for result in results),
        "seconds": round(elapsed, 2),
        "rate": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
    }


def _timed_loop(barrier, index: int, ids: list[int], seconds: float, one) -> dict:
    """Call ``one(account_id, amount, n)`` on random accounts until the time is up."""
    rng = random.Random(index)
    one(ids[index % len(ids)], 1, -1)  # warm up: connection, caches
    barrier.wait()
    latencies, refused, n = [], 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while (now := time.perf_counter()) < deadline:
        refused += one(rng.choice(ids), rng.randint(1, MAX_DEBIT), n) is False
        latencies.append((time.perf_counter() - now) * 1000)
        n += 1
    return {"latencies": latencies, "refused": refused, "elapsed": time.perf_counter() - start}


# Ours ------------------------------------------------------------------------------------


def ledger_seed(accounts: int) -> list[int]:
    """Open ``accounts`` accounts with LOTS lots each, through the posting core; return ids."""
    from django.db import transaction

    from ledger import clock
    from ledger.actors import Actor
    from ledger.models import CreditAccount, Customer, GrantKind, OwnerKind, Workspace
    from ledger.services.grants import grant_apply
    from ledger.services.postings import Posting, account_lock

    workspace = Workspace.objects.create(slug="bench", name="Bench")
    customers = Customer.objects.bulk_create(
        Customer(workspace=workspace, external_id=f"bench-{i}", email=f"bench{i}@example.com") for i in range(accounts)
    )
    opened = CreditAccount.objects.bulk_create(
        CreditAccount(workspace=workspace, owner_kind=OwnerKind.CUSTOMER, customer=customer) for customer in customers
    )
    now, actor = clock.now(), Actor.system("bench")
    for account in opened:
        with transaction.atomic():
            locked = account_lock(account_id=account.pk)
            for lot in range(LOTS):
                grant_apply(
                    account=locked, amount=LOT_CREDITS, kind=GrantKind.PURCHASE,
                    posting=Posting(actor=actor, description="bench lot", idempotency_key=f"seed-{lot}"),
                    expires_at=None if lot == LOTS - 1 else now + timedelta(days=30 * (lot + 1)),
                )
    return [account.pk for account in opened]


def debit_worker(barrier, index: int, ids: list[int], seconds: float) -> dict:
    from ledger.actors import Actor
    from ledger.exceptions import InsufficientCredits
    from ledger.services.debits import debit_create

    actor = Actor.system("bench")

    def one(account_id: int, amount: int, n: int) -> bool:
        try:
            debit_create(account_id=account_id, amount=amount, actor=actor,
                         idempotency_key=f"bench-{index}-{n}", source="bench")
        except InsufficientCredits:
            return False
        return True

    return _timed_loop(barrier, index, ids, seconds, one)


# django-hordak ---------------------------------------------------------------------------


def hordak_seed(accounts: int) -> list[int]:
    """Open ``accounts`` hordak accounts funded by LOTS transfers each; return ids."""
    from django.db import transaction
    from djmoney.money import Money
    from hordak.models import Account, AccountType

    issued = Account.objects.create(name="Credits issued", type=AccountType.equity, currencies=["EUR"])
    Account.objects.create(name="Credits spent", type=AccountType.income, currencies=["EUR"])
    ids = []
    for i in range(accounts):
        with transaction.atomic():
            account = Account.objects.create(name=f"bench {i}", type=AccountType.liability, currencies=["EUR"])
            for _ in range(LOTS):
                issued.transfer_to(account, Money(LOT_CREDITS, "EUR"), description="bench lot")
        ids.append(account.pk)
    return ids


def hordak_worker(barrier, index: int, ids: list[int], seconds: float) -> dict:
    from django.db import transaction
    from djmoney.money import Money
    from hordak.models import Account

    spent = Account.objects.get(name="Credits spent")

    def one(account_id: int, amount: int, n: int) -> bool:
        # As debit_create does: load the account and write, one transaction per debit.
        with transaction.atomic():
            account = Account.objects.get(pk=account_id)
            account.transfer_to(spent, Money(amount, "EUR"), description=f"bench-{index}-{n}")
        return True

    return _timed_loop(barrier, index, ids, seconds, one)
