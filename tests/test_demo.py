"""The `make run` demo: 90 days of history through the services, dashboards' data with
real curves, a legacy table set for each built-in operation, each loaded once."""
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.db.models.functions import TruncDate

from ledger import clock
from ledger.demo import demo_data_load
from ledger.models import ApiKey, CreditAccount, EntryType, LedgerEntry, Workspace
from ledger.reports import report_get
from migrations_ops.demo import DEMO_ROWS, legacy_demo_load
from migrations_ops.legacy import LEGACY_TABLES, legacy_table_drop, legacy_table_exists
from migrations_ops.operations.registry import operations_all
from migrations_ops.services import runs

pytestmark = pytest.mark.django_db


def test_the_demo_history_spans_the_days_with_every_kind_of_entry():
    summary = demo_data_load(days=20)
    assert "20 days of history" in summary
    workspace = Workspace.objects.get(slug="demo")
    entries = LedgerEntry.objects.filter(account__workspace=workspace)
    days = entries.annotate(day=TruncDate("created_at")).values("day").distinct().count()
    assert days >= 19  # one a day, stamped with the day it happened on
    oldest = entries.order_by("created_at").first().created_at
    assert clock.now() - timedelta(days=21) < oldest < clock.now() - timedelta(days=19)
    kinds = set(entries.values_list("entry_type", flat=True))
    assert {EntryType.GRANT, EntryType.DEBIT, EntryType.REFUND} <= kinds
    assert ApiKey.objects.filter(workspace=workspace).count() == 5
    assert report_get("consistency").run().findings == 0
    assert demo_data_load(days=20) == "demo data already loaded"


def test_promos_lapse_within_the_history_so_the_expiry_curve_has_points():
    demo_data_load(days=40)
    expiries = LedgerEntry.objects.filter(entry_type=EntryType.EXPIRE)
    assert expiries.exists()
    assert expiries.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id")).count() >= 2
    assert not CreditAccount.objects.filter(balance__lt=0).exists()


def test_demo_setup_prints_the_login_and_is_idempotent(monkeypatch):
    monkeypatch.setattr("ledger.demo.HISTORY_DAYS", 3)
    monkeypatch.setattr("ledger.management.commands.demo_setup.demo_data_load", lambda: demo_data_load(days=3))
    out = io.StringIO()
    call_command("demo_setup", stdout=out)
    assert "created superuser admin" in out.getvalue() and "admin / creditsite-demo" in out.getvalue()
    again = io.StringIO()
    call_command("demo_setup", stdout=again)
    assert "created superuser" not in again.getvalue() and "already loaded" in again.getvalue()


def test_the_legacy_demo_seeds_a_table_set_for_every_operation_once():
    try:
        out = io.StringIO()
        call_command("seed_legacy", "--demo", stdout=out)
        assert all(legacy_table_exists(name) for name in LEGACY_TABLES)
        assert f"keys {DEMO_ROWS['keys']}" in out.getvalue()
        # Every built-in operation can plan a dry run over the demo right away.
        for op in operations_all():
            preview = runs.run_preview(operation=op.name, params={}, execute=False, force=True)
            assert preview.total > 0, op.name
        assert "already present" in legacy_demo_load()
    finally:
        for name, table in reversed(list(LEGACY_TABLES.items())):
            if not table.managed:
                legacy_table_drop(table)
