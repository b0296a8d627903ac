"""The daily summary: rebuilt from entries per workspace and UTC day, idempotent."""
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from ledger import clock
from ledger.exceptions import InvalidInput
from ledger.models import DailySummary, EntryType, GrantKind
from ledger.services.debits import debit_create, refund_create
from ledger.services.grants import grant_create
from ledger.services.postings import Posting, account_lock, entry_append
from ledger.services.summaries import daily_summary_refresh

from ...factories import AccountFactory, WorkspaceFactory
from ..reporting import ACTOR, lot_expire

pytestmark = pytest.mark.django_db
DAY1 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def at(moment):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def refill(account, amount):
    from django.db import transaction

    with transaction.atomic():
        locked = account_lock(account_id=account.pk)
        lot = locked.grants.create(kind=GrantKind.REFILL, amount=amount, remaining=amount, effective_from=clock.now())
        entry_append(account=locked, entry_type=EntryType.REFILL, amount=amount, posting=Posting(actor=ACTOR), lot=lot)


def test_summary_counts_each_flow_per_day_and_carries_outstanding():
    acme, other = WorkspaceFactory(slug="acme"), WorkspaceFactory(slug="other")
    account = AccountFactory(workspace=acme)
    with at(DAY1):
        grant_create(account_id=account.pk, amount=100, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="g", expires_at=None)
        debit = debit_create(account_id=account.pk, amount=30, actor=ACTOR, idempotency_key="d").entry
        short = grant_create(account_id=account.pk, amount=20, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="s",
                             expires_at=DAY1 + timedelta(days=5)).grant
    with at(DAY1 + timedelta(days=2)):
        refund_create(debit_entry_id=debit.pk, actor=ACTOR, idempotency_key="r", reason="bad run", amount=10)
        lot_expire(short)
        refill(account, 7)
    with at(DAY1 + timedelta(days=3)):
        assert daily_summary_refresh(start=DAY1.date() - timedelta(days=1), end=DAY1.date() + timedelta(days=3), actor=ACTOR) == 5
    rows = {(r.day - DAY1.date()).days: (r.granted, r.spent, r.expired, r.refilled, r.outstanding)
            for r in DailySummary.objects.filter(workspace=acme)}
    assert rows == {-1: (0, 0, 0, 0, 0), 0: (120, 30, 0, 0, 90), 1: (0, 0, 0, 0, 90),
                    2: (0, -10, 20, 7, 87), 3: (0, 0, 0, 0, 87)}
    account.refresh_from_db()
    assert account.balance == 87
    assert set(DailySummary.objects.filter(workspace=other).values_list("outstanding", flat=True)) == {0}


def test_refresh_is_idempotent_and_opens_from_earlier_entries():
    account = AccountFactory(workspace=WorkspaceFactory())
    with at(DAY1):
        grant_create(account_id=account.pk, amount=50, kind=GrantKind.PURCHASE, actor=ACTOR, idempotency_key="g", expires_at=None)
    with at(DAY1 + timedelta(days=10)):
        debit_create(account_id=account.pk, amount=5, actor=ACTOR, idempotency_key="d")
        day = (DAY1 + timedelta(days=10)).date()
        daily_summary_refresh(start=day, end=day, actor=ACTOR)
        first = list(DailySummary.objects.values_list("day", "spent", "outstanding"))
        daily_summary_refresh(start=day, end=day, actor=ACTOR)
    assert first == list(DailySummary.objects.values_list("day", "spent", "outstanding")) == [(day, 5, 45)]


def test_refresh_refuses_a_reversed_range():
    with pytest.raises(InvalidInput, match="end"):
        daily_summary_refresh(start=DAY1.date(), end=DAY1.date() - timedelta(days=1), actor=ACTOR)


def test_voids_and_migrations_are_not_expiry_and_migrations_stand_apart():
    from ledger.services.grants import grant_void

    workspace = WorkspaceFactory()
    account = AccountFactory(workspace=workspace)
    with at(DAY1):
        bought = grant_create(account_id=account.pk, amount=40, kind=GrantKind.PURCHASE, actor=ACTOR,
                              idempotency_key="p", expires_at=None).grant
        migrated = grant_create(account_id=account.pk, amount=500, kind=GrantKind.MIGRATION, actor=ACTOR,
                                idempotency_key="m", expires_at=None).grant
        short = grant_create(account_id=account.pk, amount=9, kind=GrantKind.PURCHASE, actor=ACTOR,
                             idempotency_key="s", expires_at=DAY1 + timedelta(hours=1)).grant
    with at(DAY1 + timedelta(days=1)):
        lot_expire(short)
        grant_void(grant_id=bought.pk, actor=ACTOR, reason="chargeback", idempotency_key="v")
        grant_void(grant_id=migrated.pk, actor=ACTOR, reason="rollback", idempotency_key="r")
        daily_summary_refresh(start=DAY1.date(), end=DAY1.date() + timedelta(days=1), actor=ACTOR)
    columns = ("granted", "expired", "voided", "migrated_in", "migrated_out", "outstanding")
    rows = list(DailySummary.objects.filter(workspace=workspace).order_by("day").values_list(*columns))
    assert rows == [(49, 0, 0, 500, 0, 549), (0, 9, 40, 0, 500, 0)]
