"""Legacy ``credit_allocations`` and ``credit_allocation_transactions`` (drop deprecated tables guide).

The guide assumed both tables were empty and dropped them with CASCADE. Real ones still
hold rows (allocations with and without an expiry, transactions pointing at them through a
foreign key), which is what ``drop-credit-allocations`` archives before dropping.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from .legacy import LegacyTable, legacy_table_register

_START = datetime(2023, 6, 1, tzinfo=UTC)
_STATUSES = ("active", "active", "active", "exhausted", "expired", "revoked")
_KINDS = ("allocate", "consume", "consume", "consume", "refund", "expire")


def _allocations_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    tenants = [f"tenant_{n:03d}" for n in range(1, max(2, count // 25) + 1)]
    for number in range(1, count + 1):
        allocated = _START + timedelta(minutes=rng.randint(0, 60 * 24 * 500))
        expires = None if rng.random() < 0.3 else allocated + timedelta(days=rng.choice([30, 90, 180, 365]))
        yield (
            number, rng.choice(tenants), f"user_{rng.randint(1, max(1, count * 2)):06d}",
            rng.choice([0, 10, 100, 500, 1000, 5000, rng.randint(1, 10**6)]), allocated, expires,
            rng.choice(_STATUSES),
        )


def _transactions_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    """About three transactions per allocation: seed with --credit-allocation-transactions
    at most 3x --credit-allocations (they reference allocation ids 1..count/3)."""
    allocations = max(1, count // 3)
    for number in range(1, count + 1):
        note = rng.choice([None, "", "migrated from v1", "support: goodwill 'refund'", "Überweisung — ok"])
        yield (
            number, 1 + (number - 1) % allocations, rng.choice([-1, 1]) * rng.randint(1, 5000),
            rng.choice(_KINDS), _START + timedelta(minutes=rng.randint(0, 60 * 24 * 500)), note,
        )


CREDIT_ALLOCATIONS_TABLE = legacy_table_register(
    LegacyTable(
        name="credit_allocations",
        option="credit-allocations",
        help="rows of the deprecated credit_allocations table (drop deprecated tables guide)",
        columns=[
            ("id", "BigIntegerField", None, False, True),
            ("tenant_id", "CharField", 64, False, False),
            ("user_id", "CharField", 64, False, False),
            ("credits", "BigIntegerField", None, False, False),
            ("allocated_at", "DateTimeField", None, False, False),
            ("expires_at", "DateTimeField", None, True, False),
            ("status", "CharField", 16, False, False),
        ],
        rows=_allocations_rows,
        indexes=[("tenant_id", "user_id")],
    )
)

CREDIT_ALLOCATION_TRANSACTIONS_TABLE = legacy_table_register(
    LegacyTable(
        name="credit_allocation_transactions",
        option="credit-allocation-transactions",
        help="rows of credit_allocation_transactions (reference credit_allocations; give at most 3x)",
        columns=[
            ("id", "BigIntegerField", None, False, True),
            ("allocation_id", "BigIntegerField", None, False, False),
            ("amount", "BigIntegerField", None, False, False),
            ("kind", "CharField", 16, False, False),
            ("created_at", "DateTimeField", None, False, False),
            ("note", "CharField", 200, True, False),
        ],
        rows=_transactions_rows,
        indexes=[("allocation_id",)],
        foreign_keys=[("allocation_id", "credit_allocations", "id")],
    )
)
