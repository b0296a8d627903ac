"""Legacy ``user_billing`` (billing migration guide): USD and UAH balances per product user.

Realistic defects the migration must handle: zero balances, balances too small to make a
credit, UAH balances the guide's script silently ignored, negative balances (refunds booked
below zero) and users without an email.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal

from .legacy import LegacyTable, legacy_table_register

_CENT = Decimal("0.01")


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randint(low, high)) * _CENT).quantize(_CENT)


def _billing_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    for number in range(1, count + 1):
        user_id = "%08x-%04x-4%03x-a%03x-%012x" % (
            rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12), rng.getrandbits(12), number,
        )
        draw = rng.random()
        if draw < 0.2:
            usd = Decimal("0.00")
        elif draw < 0.25:
            usd = _money(rng, 1, 49)             # below half a credit at rate 1: converts to 0
        elif draw < 0.28:
            usd = -_money(rng, 1, 5000)          # refunded below zero
        elif draw < 0.30:
            usd = _money(rng, 10**7, 10**9)      # large
        else:
            usd = _money(rng, 50, 50000)
        uah = _money(rng, 100, 400000) if rng.random() < 0.3 else Decimal("0.00")
        email = None if rng.random() < 0.02 else f"user{number}@example.org"
        yield (user_id, email, usd, uah)


USER_BILLING_TABLE = legacy_table_register(
    LegacyTable(
        name="user_billing",
        option="user-billing",
        help="rows of the legacy user_billing table (USD/UAH balances; billing migration guide)",
        columns=[
            ("user_id", "CharField", 64, False, True),
            ("email", "CharField", 254, True, False),
            ("balance_usd", "DecimalField", (12, 2), False, False),
            ("balance_uah", "DecimalField", (12, 2), False, False),
        ],
        rows=_billing_rows,
    )
)
