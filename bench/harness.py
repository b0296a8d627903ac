"""What every benchmark module shares: its context, its rows, its database and its workers.

A benchmark module (``bench/<name>.py``) defines ``NAME`` and ``run(ctx: Context) ->
list[Row]``. It gets a migrated PostgreSQL database of its own (``ctx.database_url``) and
never sets Django up in the harness process: Django work happens in child processes
(:func:`django_processes`, :func:`django_call`) so that a module may use another settings
module (``bench.settings_hordak``) on the same database.
"""
from __future__ import annotations

import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SETTINGS = "creditsite.settings"
#: Multiprocessing start method: spawned workers set Django up from scratch, each with
#: its own connection (forking a process that holds a connection shares its socket).
SPAWN = multiprocessing.get_context("spawn")
#: Longest a child may take to report (seconds); a crashed child fails the run, not hangs it.
CHILD_TIMEOUT = 1800


@dataclass
class Row:
    """One line of the results table: our figure, the baseline's, and ours / baseline."""

    benchmark: str
    ours: float | None
    baseline: float | None = None
    unit: str = ""
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


class Skipped(Exception):
    """A baseline or a benchmark cannot run here (tool or package missing); says why."""


@dataclass
class Context:
    """What a benchmark module is given: sizes, the bench database, a place for details."""

    quick: bool
    server_url: str
    database: str
    workers: int = 8
    details: dict[str, Any] = field(default_factory=dict)
    #: ``--scale``: a fraction of the full sizes other than --quick's hundredth.
    fraction: float | None = None

    @property
    def scale(self) -> float:
        """Multiply full-size counts by this: a hundred times smaller with ``--quick``."""
        if self.fraction is not None:
            return self.fraction
        return 0.01 if self.quick else 1.0

    def size(self, full: int, minimum: int = 1) -> int:
        return max(minimum, int(full * self.scale))

    @property
    def seconds(self) -> int:
        """How long a timed run (ours or a baseline's) lasts."""
        return 3 if self.quick else 30

    @property
    def database_url(self) -> str:
        return database_url(self.server_url, self.database)

    def child_database(self, suffix: str) -> str:
        """Name a further database this run owns (dropped by ``database_drop``)."""
        return f"{self.database}_{suffix}"


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _admin_connect(server_url: str):
    import psycopg

    return psycopg.connect(server_url, autocommit=True)


def database_create(server_url: str, name: str) -> None:
    """Create an empty database ``name``, dropping a leftover one of that name first."""
    _safe_name(name)
    with _admin_connect(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(server_url: str, name: str) -> None:
    _safe_name(name)
    with _admin_connect(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _safe_name(name: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]{2,62}", name) or "bench" not in name:
        raise ValueError(f"refusing database name {name!r}: bench databases are [a-z0-9_] and contain 'bench'")


#: Benchmarks measure production mode: with DEBUG on, Django also records every query.
#: The rest is what a process on plain HTTP needs (its test client, a bench-only key).
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "bench-only-insecure-secret-key", "SECURE_SSL_REDIRECT": "false"}


def django_env(database_url_: str, settings: str = SETTINGS) -> dict[str, str]:
    return {**os.environ, **PRODUCTION, "DATABASE_URL": database_url_, "DJANGO_SETTINGS_MODULE": settings}


def manage(database_url_: str, *args: str, settings: str = SETTINGS) -> None:
    """Run ``manage.py`` on the bench database, in a process of its own."""
    subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=REPO, env=django_env(database_url_, settings), check=True,
        stdout=subprocess.DEVNULL,
    )


def django_init(database_url_: str, settings: str = SETTINGS) -> None:
    """Set Django up in this (child) process on the bench database."""
    os.environ.update({**PRODUCTION, "DATABASE_URL": database_url_, "DJANGO_SETTINGS_MODULE": settings})
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _call_in_child(queue, database_url_: str, settings: str, func: Callable, args: tuple) -> None:
    try:
        django_init(database_url_, settings)
        queue.put(("ok", func(*args)))
    except BaseException as error:  # report it to the parent, which raises it
        queue.put(("error", f"{type(error).__name__}: {error}"))


def django_call(ctx: Context, func: Callable, *args: Any, settings: str = SETTINGS) -> Any:
    """Run ``func(*args)`` in a fresh Django process on the bench database; return its result."""
    queue = SPAWN.Queue()
    process = SPAWN.Process(target=_call_in_child, args=(queue, ctx.database_url, settings, func, args))
    process.start()
    status, value = queue.get(timeout=CHILD_TIMEOUT)
    process.join()
    if status == "error":
        raise RuntimeError(f"{func.__name__} failed in its process: {value}")
    return value


def _worker_in_child(queue, barrier, database_url_: str, settings: str, func: Callable, args: tuple) -> None:
    try:
        django_init(database_url_, settings)
        queue.put(("ok", func(barrier, *args)))
    except BaseException as error:
        barrier.abort()
        queue.put(("error", f"{type(error).__name__}: {error}"))


def django_processes(ctx: Context, func: Callable, args_list: list[tuple], *, settings: str = SETTINGS) -> list[Any]:
    """Run ``func(barrier, *args)`` in one Django process per args tuple, all at once.

    Each worker sets Django up (its own connection), does its warm-up, then calls
    ``barrier.wait()`` so that the timed parts start together. Returns their results.
    """
    queue = SPAWN.Queue()
    barrier = SPAWN.Barrier(len(args_list))
    processes = [
        SPAWN.Process(target=_worker_in_child, args=(queue, barrier, ctx.database_url, settings, func, args))
        for args in args_list
    ]
    for process in processes:
        process.start()
    outcomes = [queue.get(timeout=CHILD_TIMEOUT) for _ in processes]
    for process in processes:
        process.join()
    errors = [value for status, value in outcomes if status == "error"]
    if errors:
        raise RuntimeError(f"{func.__name__} failed in {len(errors)} worker(s): {errors[0]}")
    return [value for _, value in outcomes]


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


# pgbench -------------------------------------------------------------------------------


def _pg_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    env = {**os.environ, "PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432),
           "PGDATABASE": parts.path.lstrip("/")}
    if parts.username:
        env["PGUSER"] = parts.username
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def pgbench_tpcb(ctx: Context, *, clients: int, threads: int, seconds: int, scale: int) -> dict[str, Any]:
    """Run pgbench's built-in TPC-B-like script in a database of its own; return tps and
    per-transaction latency percentiles (ms). Raises Skipped when pgbench is missing."""
    if shutil.which("pgbench") is None:
        raise Skipped("pgbench not installed (apt-get install postgresql-client)")
    name = ctx.child_database("pgbench")
    database_create(ctx.server_url, name)
    env = _pg_env(database_url(ctx.server_url, name))
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", str(scale)], env=env, check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix="pgbench-") as logs:
            done = subprocess.run(
                ["pgbench", "-c", str(clients), "-j", str(threads), "-T", str(seconds), "-l", "--log-prefix=tx"],
                env=env, check=True, capture_output=True, text=True, cwd=logs,
            )
            latencies = _pgbench_latencies(Path(logs))
    finally:
        database_drop(ctx.server_url, name)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    if match is None:
        raise RuntimeError(f"cannot read pgbench output:\n{done.stdout}")
    return {
        "tps": float(match.group(1)),
        "transactions": len(latencies),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "scale": scale, "clients": clients, "threads": threads, "seconds": seconds,
    }


def _pgbench_latencies(logs: Path) -> list[float]:
    """Per-transaction latencies (ms) from pgbench -l logs: the third field is microseconds."""
    latencies = []
    for path in logs.glob("tx*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                latencies.append(int(fields[2]) / 1000)
    return latencies


# The machine ------------------------------------------------------------------------------


def machine_describe(server_url: str) -> dict[str, Any]:
    """What the figures depend on: cores, memory, PostgreSQL version and durability settings."""
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with _admin_connect(server_url) as conn:
        for setting in ("server_version", "synchronous_commit", "fsync", "shared_buffers", "max_connections"):
            info[f"pg_{setting}"] = conn.execute(f"SHOW {setting}").fetchone()[0]
    return info
