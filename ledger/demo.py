"""Demo data for `make run`: a workspace with product users and API keys, and 90 days of
history written through the real services day by day, so the dashboards show real curves.

Each day of the history runs with the clock set to that day (``ledger.clock.now`` and
Django's ``timezone.now``, which stamps ``created_at``), so entries carry the day they
happened on. Random choices come from a fixed seed: the same demo every time.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock

from django.db import transaction

from . import clock
from .actors import Actor
from .exceptions import LedgerError
from .models import ApiKey, GrantKind, OwnerKind, Workspace
from .services.accounts import account_open
from .services.customers import customer_signup
from .services.debits import debit_create, refund_create
from .services.expiry import grants_expire_due
from .services.grants import grant_create
from .services.rewards import reward_daily_signin

HISTORY_DAYS = 90
DEMO_KEYS = 5
#: New product users per day of the history (the first day opens with a crowd).
SIGNUPS_PER_DAY = (0, 3)
OPENING_USERS = 12


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Run the services as if it were ``moment`` (the demo's history only)."""
    with mock.patch("django.utils.timezone.now", return_value=moment), mock.patch.object(clock, "now", return_value=moment):
        yield


class _History:
    """One demo workspace's days: signups, purchases, sign-ins, usage, refunds, promos, expiry."""

    def __init__(self, workspace: Workspace, *, seed: int) -> None:
        self.workspace, self.rng, self.actor = workspace, random.Random(seed), Actor.system("demo")
        self.accounts: list[tuple[int, int]] = []  # (customer id, account id)
        self.debits: list[int] = []

    def day(self, number: int, moment: datetime) -> None:
        with clock_at(moment):
            signups = OPENING_USERS if number == 0 else self.rng.randint(*SIGNUPS_PER_DAY)
            for _ in range(signups):
                self._signup(moment)
            for customer_id, account_id in self.rng.sample(self.accounts, k=min(len(self.accounts), 8)):
                self._active_user(number, customer_id, account_id)
            grants_expire_due(actor=self.actor, at=moment)

    def _signup(self, moment: datetime) -> None:
        n = len(self.accounts)
        signup = customer_signup(workspace_id=self.workspace.pk, external_id=f"demo-user-{n}",
                                 email=f"user{n}@demo.example", actor=self.actor)
        self.accounts.append((signup.customer.pk, signup.account.pk))
        if n % 4 == 0:  # a promo that lapses within the history: the expiry curve
            grant_create(account_id=signup.account.pk, amount=50, kind=GrantKind.MANUAL, actor=self.actor,
                         idempotency_key=f"demo-promo-{n}", reason="Launch promo, 30 days",
                         expires_at=moment + timedelta(days=30), priority=90)  # drawn last: some lapse

    def _active_user(self, number: int, customer_id: int, account_id: int) -> None:
        rng = self.rng
        if rng.random() < 0.6:
            reward_daily_signin(actor=self.actor, customer_id=customer_id)
        if rng.random() < 0.12:
            grant_create(account_id=account_id, amount=rng.choice([200, 500, 1000]), kind=GrantKind.PURCHASE,
                         actor=self.actor, idempotency_key=f"demo-purchase-{number}-{account_id}",
                         description="Credit pack")
        for k in range(rng.randint(0, 3)):
            seconds = rng.randint(1, 8)
            try:
                debit = debit_create(account_id=account_id, amount=seconds * 10, actor=self.actor,
                                     idempotency_key=f"demo-debit-{number}-{account_id}-{k}",
                                     description=f"Video render, {seconds} s", source="task",
                                     source_id=f"demo-{number}-{account_id}-{k}")
            except LedgerError:  # out of credits: the customer stops for the day
                return
            self.debits.append(debit.entry.pk)
            if rng.random() < 0.05:
                refund_create(debit_entry_id=debit.entry.pk, actor=self.actor,
                              idempotency_key=f"demo-refund-{debit.entry.pk}", reason="Render failed")


def demo_data_load(*, days: int = HISTORY_DAYS, seed: int = 2026) -> str:
    """Load the demo workspace and its history once; running it again changes nothing."""
    workspace, created = Workspace.objects.get_or_create(slug="demo", defaults={"name": "Demo Studio"})
    if not created:
        return "demo data already loaded"
    history = _History(workspace, seed=seed)
    today = clock.now()
    for number in range(days):
        history.day(number, today - timedelta(days=days - number))
    with transaction.atomic():
        for n in range(DEMO_KEYS):
            key = ApiKey.objects.create(workspace=workspace, external_id=f"key_demo_{n}", name=f"Demo key {n}")
            account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.API_KEY, owner_id=key.pk)
    return (f"loaded demo workspace with {len(history.accounts)} product users, {DEMO_KEYS} API keys and "
            f"{days} days of history ({len(history.debits)} debits)")
