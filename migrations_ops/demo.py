"""Legacy tables for the `make run` demo: one set per built-in operation, so a newcomer can
walk every guide from the admin right away (dry run, execute, verify, roll back)."""
from __future__ import annotations

from .archives import table_count
from .legacy import LEGACY_TABLES, legacy_seed, legacy_table_exists

#: Rows per legacy table in the demo (tables not named here get DEFAULT_ROWS). Transactions
#: of credit allocations reference at most three per allocation.
DEMO_ROWS = {
    "keys": 2_000, "users": 400, "teams": 10, "user_credits": 480, "api_key_credits": 200,
    "credit_transactions": 2_400, "user_billing": 300, "credit_allocations": 200,
    "credit_allocation_transactions": 600,
}
DEFAULT_ROWS = 100
DEMO_SEED = 2026


def legacy_demo_load() -> str:
    """Create and fill every registered legacy table once; when any of them exists
    already (or holds rows, for Django's own), change nothing (a demo database is never reseeded over someone's work)."""
    # A table Django's migrations own (users) always exists: it counts once it has rows.
    present = [name for name, table in LEGACY_TABLES.items()
               if legacy_table_exists(name) and (not table.managed or table_count(name))]
    if present:
        return f"legacy demo tables already present ({', '.join(present)}); nothing seeded"
    written = legacy_seed(counts={name: DEMO_ROWS.get(name, DEFAULT_ROWS) for name in LEGACY_TABLES}, seed=DEMO_SEED)
    return "legacy demo tables: " + ", ".join(f"{name} {rows}" for name, rows in written.items())
