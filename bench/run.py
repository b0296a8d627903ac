"""Run the benchmarks on PostgreSQL and print one table (and a JSON file in bench/results/).

    python bench/run.py [--quick] [--only NAME[,NAME]] [--database NAME]

The PostgreSQL server is the one in DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/postgres). The run creates a database of its own
(``--database``, default ``creditsite_bench``), migrates it, gives it to each benchmark
module in BENCHMARKS in turn, and drops it at the end. ``--quick`` makes every size a
hundred times smaller (CI runs it so the benchmarks never rot).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    Context,
    Row,
    database_create,
    database_drop,
    machine_describe,
    manage,
)

#: Benchmark modules (bench/<name>.py), run in this order. Each defines ``NAME`` and
#: ``run(ctx) -> list[Row]``; add a module's name here to add it to the table.
BENCHMARKS = ["ledger_writes", "migration", "expiry", "pages", "consistency"]

RESULTS = Path(__file__).resolve().parent / "results"


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes a hundred times smaller (CI)")
    parser.add_argument("--only", default="", help=f"comma-separated benchmarks among: {', '.join(BENCHMARKS)}")
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE", "creditsite_bench"),
                        help="name of the database the run creates and drops (default creditsite_bench)")
    parser.add_argument("--scale", type=float, default=None,
                        help="multiply the full sizes by this (e.g. 0.1) instead of --quick's 0.01")
    parser.add_argument("--keep", action="store_true", help="keep the bench database after the run")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}")
    return args


def _number(value: float | None) -> str:
    if value is None:
        return "skipped"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def table_print(rows: list[Row]) -> None:
    header = ("benchmark", "ours", "baseline", "ratio", "notes")
    lines = [
        (row.benchmark + (f" ({row.unit})" if row.unit else ""), _number(row.ours),
         "-" if row.baseline is None and "skipped" not in row.notes else _number(row.baseline),
         "-" if row.ratio is None else f"{row.ratio:.2f}x", row.notes)
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(4)]
    for line in [header, tuple("-" * w for w in widths) + ("-----",), *lines]:
        print("  ".join(str(cell).ljust(widths[i]) if i < 4 else str(cell) for i, cell in enumerate(line)))


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not server_url.startswith(("postgres://", "postgresql://")):
        print(f"bench needs PostgreSQL; DATABASE_URL is {server_url.split(':')[0]}: skipped")
        return 0
    ctx = Context(quick=args.quick, server_url=server_url, database=args.database, fraction=args.scale)
    names = args.only or BENCHMARKS
    started = time.perf_counter()
    machine = machine_describe(server_url)
    print(f"== bench {'--quick ' if args.quick else ''}{f'--scale {args.scale} ' if args.scale else ''}on PostgreSQL {machine['pg_server_version']}, "
          f"{machine['nproc']} cores, {machine['memory_gb']} GB; database {ctx.database}", flush=True)
    rows: list[Row] = []
    failed = []
    database_create(server_url, ctx.database)
    try:
        manage(ctx.database_url, "migrate", "--noinput")
        for name in names:
            module = importlib.import_module(f"bench.{name}")
            print(f"-- {name}", flush=True)
            begun = time.perf_counter()
            try:
                rows.extend(module.run(ctx))
            except Exception as error:  # one broken benchmark must not hide the others
                traceback.print_exc()
                failed.append(name)
                rows.append(Row(benchmark=name, ours=None, notes=f"FAILED: {type(error).__name__}: {error}"))
            ctx.details.setdefault(name, {})["seconds"] = round(time.perf_counter() - begun, 1)
    finally:
        if not args.keep:
            database_drop(server_url, ctx.database)
    print()
    table_print(rows)
    path = results_write(ctx, machine, rows, time.perf_counter() - started)
    print(f"\n{len(rows)} rows in {time.perf_counter() - started:.0f}s; results in {path}")
    return 1 if failed else 0


def results_write(ctx: Context, machine: dict, rows: list[Row], seconds: float) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}{'-quick' if ctx.quick else ''}.json"
    payload = {
        "started_at": stamp, "quick": ctx.quick, "seconds": round(seconds, 1), "machine": machine,
        "rows": [row.as_dict() for row in rows], "details": ctx.details,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
