"""Legacy tables of the credit system update and credit system fix guides, with their defects.

``users`` (id, email, credits, created_at) is the Django-managed ``LegacyUser`` table: a
balance column with no history. Ids skip every 7th number (users deleted since), some
balances are negative and some emails malformed. ``teams``, ``user_credits``,
``api_key_credits`` and ``credit_transactions`` are plain legacy tables whose ``user_id``
has no foreign key; rows point at those deleted ids and beyond the last user (orphans),
including transactions of missing users that have no ``user_credits`` row (the case the
guide's cleanup, which went through ``user_credits``, missed).
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from .legacy import LegacyTable, legacy_table_register

_START = datetime(2024, 1, 1, tzinfo=UTC)


def legacy_user_ids(count: int) -> list[int]:
    """The ids ``count`` seeded users get: every 7th id is a user deleted since."""
    ids, number = [], 0
    while len(ids) < count:
        number += 1
        if number % 7:
            ids.append(number)
    return ids


def _users_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    for number, user_id in enumerate(legacy_user_ids(count), start=1):
        draw = rng.random()
        credits = 10 if draw < 0.15 else 0 if draw < 0.22 else rng.randint(1, 500)
        if number % 25 == 0:
            credits = -rng.randint(1, 50)  # a balance that went negative, 1 in 25
        email = f"user{user_id}@" if number % 40 == 0 else f"user{user_id}@example.com"  # malformed, 1 in 40
        created = _START + timedelta(minutes=rng.randint(0, 60 * 24 * 1000))
        yield user_id, email, credits, created


def _user_ref(number: int, rng: random.Random) -> int:
    # Mostly existing users; ids that are multiples of 7, or far past the end, are orphans.
    return number if rng.random() > 0.05 else 10**6 + number


def _teams_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    for number in range(1, count + 1):
        yield number, f"team {number}"


def _user_credits_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    for number in range(1, count + 1):
        team = rng.randint(1, 20) if rng.random() < 0.6 else None
        yield number, _user_ref(number, rng), team, rng.randint(0, 5_000)


def _api_key_credits_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    for number in range(1, count + 1):
        yield number, _user_ref(rng.randint(1, max(1, count)), rng), f"key_{number:06d}", rng.randint(0, 10_000)


def _credit_transactions_rows(count: int, rng: random.Random) -> Iterator[tuple]:
    for number in range(1, count + 1):
        amount = rng.choice([100, 10, 10, 10, -50, -70, -140])
        created = _START + timedelta(minutes=rng.randint(0, 60 * 24 * 1000))
        yield number, _user_ref(rng.randint(1, max(1, count // 3)), rng), amount, created, "usage" if amount < 0 else "grant"


USERS_TABLE = legacy_table_register(LegacyTable(
    name="users", option="users", managed=True,
    help="rows of the legacy users table (users.credits balance column; Django-managed, emptied then filled)",
    columns=[
        ("id", "BigIntegerField", None, False, True),
        ("email", "CharField", 254, False, False),
        ("credits", "IntegerField", None, False, False),
        ("created_at", "DateTimeField", None, False, False),
    ],
    rows=_users_rows,
))

TEAMS_TABLE = legacy_table_register(LegacyTable(
    name="teams", option="teams", help="rows of the legacy teams table",
    columns=[("id", "BigIntegerField", None, False, True), ("name", "CharField", 200, False, False)],
    rows=_teams_rows,
))

USER_CREDITS_TABLE = legacy_table_register(LegacyTable(
    name="user_credits", option="user-credits",
    help="rows of legacy user_credits (user_id without a foreign key; about 1 in 7 orphaned)",
    columns=[
        ("id", "BigIntegerField", None, False, True),
        ("user_id", "BigIntegerField", None, False, False),
        ("team_id", "BigIntegerField", None, True, False),
        ("balance", "BigIntegerField", None, False, False),
    ],
    rows=_user_credits_rows,
    indexes=[("user_id",)],
))

API_KEY_CREDITS_TABLE = legacy_table_register(LegacyTable(
    name="api_key_credits", option="api-key-credits", help="rows of legacy api_key_credits (some orphaned)",
    columns=[
        ("id", "BigIntegerField", None, False, True),
        ("user_id", "BigIntegerField", None, False, False),
        ("key_id", "CharField", 64, False, False),
        ("balance", "BigIntegerField", None, False, False),
    ],
    rows=_api_key_credits_rows,
))

CREDIT_TRANSACTIONS_TABLE = legacy_table_register(LegacyTable(
    name="credit_transactions", option="credit-transactions",
    help="rows of legacy credit_transactions (some of users that are gone)",
    columns=[
        ("id", "BigIntegerField", None, False, True),
        ("user_id", "BigIntegerField", None, False, False),
        ("amount", "BigIntegerField", None, False, False),
        ("created_at", "DateTimeField", None, False, False),
        ("description", "CharField", 200, False, False),
    ],
    rows=_credit_transactions_rows,
    indexes=[("user_id",)],
))
