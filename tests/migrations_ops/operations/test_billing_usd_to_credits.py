"""billing-usd-to-credits: conversion, rounding, UAH, dry run = execute, idempotence, resume,
rollback (exact, refused, settled), bad rates, the status report."""
import io
import json
import signal
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from ledger.actors import Actor
from ledger.models import CreditAccount, Customer, EntryType, Grant, GrantKind, LedgerEntry
from ledger.reports import report_get
from ledger.services.debits import debit_create
from migrations_ops.archives import table_rows
from migrations_ops.exceptions import InvalidParams, RollbackRefused
from migrations_ops.legacy import legacy_rows_insert, legacy_table_create, legacy_table_drop
from migrations_ops.legacy_billing import USER_BILLING_TABLE
from migrations_ops.models import BillingMigrationLog, BillingMigrationStatus, RecordAction, Run, RunStatus
from migrations_ops.services import rollbacks

from ..conftest import operation_run
from ..management.test_migrate_credits import database_url, migrate_process

OP = "billing-usd-to-credits"
D = Decimal
#: user_id, email, balance_usd, balance_uah
EDGE_BILLING = [
    ("u01", "a@example.org", D("100.00"), D("0.00")),   # plain: 100 credits
    ("u02", "b@example.org", D("10.50"), D("0.00")),    # half a credit rounds away from zero: 11
    ("u03", "c@example.org", D("0.00"), D("0.00")),     # zero: skipped
    ("u04", "d@example.org", D("0.49"), D("0.00")),     # converts to 0 credits: skipped, not zeroed
    ("u05", "e@example.org", D("50.00"), D("1000.00")), # UAH reported, not converted without --uah-rate
    ("u06", "f@example.org", D("-5.00"), D("0.00")),    # negative: failed
    ("u07", None, D("20.00"), D("0.00")),               # no email: migrated all the same (keyed by user_id)
    ("u08", "h@example.org", D("0.00"), D("400.00")),   # UAH only: skipped without --uah-rate
    ("u09", "i@example.org", D("2.50"), D("0.00")),     # 3
]
CREDITS = {"u01": 100, "u02": 11, "u05": 50, "u07": 20, "u09": 3}


def billing_dump():
    return list(table_rows("user_billing", order_by=["user_id"]))


def balances_now():
    """user_id -> (usd, uah) as Decimal cents (SQLite hands raw decimals back as floats)."""
    cents = Decimal("0.01")
    return {row[0]: (D(str(row[2])).quantize(cents), D(str(row[3])).quantize(cents)) for row in billing_dump()}


def customer_balances():
    return dict(CreditAccount.objects.filter(customer__isnull=False).values_list("customer__external_id", "balance"))


@pytest.fixture
def legacy_billing(db):
    legacy_table_create(USER_BILLING_TABLE)
    legacy_rows_insert(USER_BILLING_TABLE, EDGE_BILLING)
    yield EDGE_BILLING
    legacy_table_drop(USER_BILLING_TABLE)


@pytest.fixture
def legacy_billing_tx(transactional_db):
    legacy_table_create(USER_BILLING_TABLE)
    legacy_rows_insert(USER_BILLING_TABLE, EDGE_BILLING)
    yield EDGE_BILLING
    legacy_table_drop(USER_BILLING_TABLE)


def command(*args):
    out = io.StringIO()
    call_command("migrate_credits", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_execute_converts_usd_balances_and_zeroes_only_what_it_converted(legacy_billing):
    run = operation_run(OP, params={"rate": "1.0"})
    assert (run.status, run.scanned, run.changed, run.skipped, run.failed) == (RunStatus.SUCCEEDED, 9, 5, 3, 1)
    assert run.totals == {
        "users": 5, "usd_cents": 18300, "credits": 184, "uah_cents": 0, "skipped_zero_balance": 2,
        "skipped_zero_credits": 1, "uah_not_converted_cents": 140000,
    }
    assert customer_balances() == CREDITS
    balances = balances_now()
    assert balances["u01"] == (0, 0) and balances["u05"] == (0, D("1000.00"))   # UAH never zeroed unconverted
    assert balances["u04"] == (D("0.49"), 0) and balances["u06"] == (D("-5.00"), 0) and balances["u07"] == (0, 0)
    entry = LedgerEntry.objects.get(source="billing_usd_to_credits", source_id="u01")
    assert entry.description == "Migrated from user_billing: $100.00 USD → 100 credits (rate: 1.0x)"
    assert (entry.balance_before, entry.balance_after, entry.lot.kind, entry.lot.expires_at) == (0, 100, GrantKind.MIGRATION, None)
    assert Customer.objects.get(external_id="u01").email == "a@example.org"
    log = BillingMigrationLog.objects.get(user_id="u05")
    assert (log.old_balance_usd, log.old_balance_uah, log.new_credits, log.usd_zeroed, log.uah_zeroed) == (
        D("50.00"), D("1000.00"), 50, True, False)
    failed = dict(run.records.filter(action=RecordAction.FAILED).values_list("row_key", "message"))
    assert list(failed) == ["u06"] and "negative balance" in failed["u06"]
    assert Customer.objects.get(external_id="u07").email == ""


def test_the_log_holds_every_outcome_with_its_reason(legacy_billing):
    run = operation_run(OP)
    logs = {log.user_id: log for log in BillingMigrationLog.objects.filter(run=run)}
    assert set(logs) == {row[0] for row in EDGE_BILLING}
    statuses = {user: log.status for user, log in logs.items()}
    assert statuses == {"u01": "success", "u02": "success", "u03": "skipped", "u04": "skipped", "u05": "success",
                        "u06": "failed", "u07": "success", "u08": "skipped", "u09": "success"}
    assert logs["u06"].reason.startswith("negative balance ($-5.00 USD")
    assert logs["u04"].reason == "$0.49 converts to 0 credits at rate 1.0, not zeroed"
    assert (logs["u06"].grant_id, logs["u06"].new_credits, logs["u06"].old_balance_usd) == (None, 0, D("-5.00"))
    assert all(log.reason == "" for log in logs.values() if log.status == "success")


def test_rate_rounds_half_away_from_zero_with_decimals_end_to_end(legacy_billing):
    run = operation_run(OP, params={"rate": "1.5"})
    # 10.50 x 1.5 = 15.75 -> 16; 0.49 x 1.5 = 0.735 -> 1; 2.50 x 1.5 = 3.75 -> 4
    assert customer_balances() == {"u01": 150, "u02": 16, "u04": 1, "u05": 75, "u07": 30, "u09": 4}
    assert run.totals["credits"] == 276
    assert LedgerEntry.objects.get(source_id="u02").description.endswith("$10.50 USD → 16 credits (rate: 1.5x)")


def test_uah_is_converted_and_zeroed_only_with_an_explicit_uah_rate(legacy_billing):
    operation_run(OP, params={"uah_rate": "0.025"})
    balances = customer_balances()
    assert balances["u05"] == 50 + 25 and balances["u08"] == 10
    dump = balances_now()
    assert dump["u05"] == (0, 0) and dump["u08"] == (0, 0)
    assert "₴1000.00 UAH" in LedgerEntry.objects.get(source_id="u05").description


def test_dry_run_writes_nothing_and_its_summary_equals_the_execution(legacy_billing):
    before = billing_dump()
    plan = operation_run(OP, dry_run=True)
    assert billing_dump() == before
    assert not Grant.objects.exists() and not BillingMigrationLog.objects.exists() and not Customer.objects.exists()
    run = operation_run(OP)
    assert run.summary() == plan.summary()


def test_command_dry_run_prints_a_line_per_user_and_the_summary(legacy_billing):
    out = command(OP)
    assert "User: a@example.org (u01) - $100.00 → 100 credits - Would migrate" in out
    assert "User: d@example.org (u04) - $0.49 converts to 0 credits at rate 1.0, not zeroed" in out
    assert ("User: e@example.org (u05) - $50.00 → 50 credits - Would migrate; UAH ₴1000.00 not converted (no --uah-rate)"
            in out)
    assert "User: u07 - $20.00 → 20 credits - Would migrate" in out
    assert "Summary: users to migrate 5, total USD $183.00, total credits 184" in out


def test_a_second_run_changes_nothing(legacy_billing):
    operation_run(OP)
    again = operation_run(OP)
    assert (again.changed, again.totals.get("credits", 0)) == (0, 0)
    assert customer_balances() == CREDITS and Grant.objects.count() == 5


@pytest.mark.parametrize("rate", ["0", "-1", "NaN", "inf", "-Infinity", "abc", "1/2"])
def test_bad_rates_are_refused_naming_the_option_and_nothing_is_written(legacy_billing, rate):
    before = billing_dump()
    with pytest.raises(CommandError, match="--rate must be a positive, finite number") as refused:
        command(OP, "--execute", "--yes", f"--rate={rate}")
    assert refused.value.returncode == 2
    with pytest.raises(CommandError, match="--uah-rate must be a positive, finite number"):
        command(OP, f"--uah-rate={rate}")
    assert billing_dump() == before and not Run.objects.exists() and not Grant.objects.exists()


def test_a_float_rate_is_refused_by_the_service():
    from migrations_ops.services.billing import rate_parse

    with pytest.raises(InvalidParams, match="--rate"):
        rate_parse(1.1, option="--rate")


def test_rollback_restores_the_table_exactly_and_voids_the_credits(legacy_billing):
    before = billing_dump()
    run = operation_run(OP, params={"uah_rate": "0.025"})
    rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test")
    assert billing_dump() == before
    assert set(customer_balances().values()) == {0}
    assert not Grant.objects.filter(voided_at__isnull=True, kind=GrantKind.MIGRATION).exists()
    converted = BillingMigrationLog.objects.filter(grant__isnull=False)
    assert set(converted.values_list("status", flat=True)) == {BillingMigrationStatus.ROLLED_BACK}
    # Rolled back users migrate again in a new run.
    assert operation_run(OP).changed == 5


def _spend(user_id, amount):
    account = CreditAccount.objects.get(customer__external_id=user_id)
    debit_create(account_id=account.pk, amount=amount, actor=Actor.system("t"), idempotency_key=f"spend-{user_id}",
                 description="usage")
    return account


def test_rollback_refuses_spent_credits_listing_the_users(legacy_billing):
    run = operation_run(OP)
    _spend("u01", 30)
    before = billing_dump()
    with pytest.raises(RollbackRefused, match=r"a@example.org \(u01\): 30 of 100 migrated credits spent"):
        rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test")
    with pytest.raises(CommandError, match="settle them with --settle debt or --settle unspent") as refused:
        command("--rollback", str(run.pk), "--yes")
    assert refused.value.returncode == 3 and "keep" not in str(refused.value)
    assert billing_dump() == before and not Grant.objects.filter(voided_at__isnull=False).exists()


def test_settle_unspent_voids_the_rest_and_restores_usd_pro_rata(legacy_billing):
    run = operation_run(OP)
    account = _spend("u01", 30)
    rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test", settle="unspent")
    dump = balances_now()
    assert dump["u01"][0] == D("70.00") and dump["u02"][0] == D("10.50")
    account.refresh_from_db()
    assert (account.balance, account.debt) == (0, 0)


def test_settle_debt_takes_the_spent_part_back_as_debt_and_restores_usd_in_full(legacy_billing):
    run = operation_run(OP)
    account = _spend("u01", 30)
    rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test", settle="debt")
    assert balances_now()["u01"][0] == D("100.00")
    account.refresh_from_db()
    assert (account.balance, account.debt, account.overdraft_limit) == (-30, 30, 30)
    assert LedgerEntry.objects.filter(account=account, entry_type=EntryType.ADJUSTMENT, amount=-30).exists()


def test_status_report_lists_each_user_with_balance_and_migration_status(legacy_billing):
    run = operation_run(OP)
    report = report_get("billing_migration_status").run()
    rows = {row[0]: row for row in report.rows}
    assert rows["u01"][1:4] == ["a@example.org", 100, "success"] and rows["u01"][4] is not None
    assert rows["u04"][3::4] == ["not converted", "$0.49 converts to 0 credits at rate 1.0, not zeroed"]
    assert rows["u03"][3] == "nothing to migrate" and rows["u07"][1:4] == [None, 20, "success"]
    assert rows["u06"][3::4] == ["failed", "negative balance ($-5.00 USD, ₴0.00 UAH), not migrated"]
    # Unmigrated: u04 and u08 keep their balances, u05 its UAH, u06 failed.
    assert report.findings == report.summary["unmigrated"] == 4
    rollbacks.run_rollback(run_id=run.pk, actor=Actor.system("t"), reason="test")
    assert {row[0]: row[3] for row in report_get("billing_migration_status").run().rows}["u01"] == "rolled_back"


def test_status_report_says_pending_before_any_run_and_exits_1_while_users_remain(legacy_billing):
    rows = {row[0]: row[3] for row in report_get("billing_migration_status").run().rows}
    assert (rows["u01"], rows["u08"], rows["u06"], rows["u03"]) == ("pending", "pending", "failed", "nothing to migrate")
    with pytest.raises(SystemExit) as exited:
        call_command("credits_report", "billing_migration_status", stdout=io.StringIO(), stderr=io.StringIO())
    assert exited.value.code == 1
    legacy_table_drop(USER_BILLING_TABLE)
    legacy_table_create(USER_BILLING_TABLE)
    legacy_rows_insert(USER_BILLING_TABLE, [("u01", "a@example.org", D("100.00"), D("0.00"))])
    operation_run(OP)
    call_command("credits_report", "billing_migration_status", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at, committed", [("between:2", 4), ("inside:2", 2)])
def test_resume_after_a_kill_ends_like_an_uninterrupted_run(legacy_billing_tx, kill_at, committed):
    plan = operation_run(OP, dry_run=True)
    killed = migrate_process(OP, "--execute", "--yes", "--batch-size", "2", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = Run.objects.get(dry_run=False)
    assert (run.scanned, run.records.count()) == (committed, committed)
    resumed = migrate_process("--resume", str(run.pk), "--json", "--primary-dsn", database_url())
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    run.refresh_from_db()
    assert run.summary() == plan.summary() and run.records.count() == 9
    assert customer_balances() == CREDITS and Grant.objects.count() == 5


def test_the_admin_starts_a_dry_run_with_the_rate_and_refuses_a_bad_one(client, legacy_billing, monkeypatch):
    from django.urls import reverse

    from migrations_ops import tasks

    from ..test_admin import staff

    monkeypatch.setattr(tasks.run_execute_task, "delay", lambda *a: None)
    client.force_login(staff("run_migrations", "view_run"))
    form = {"operation": OP, "workspace": "", "batch_size": 4, "throttle_ms": 0}
    refused = client.post(reverse("admin:migrations_ops_run_start"), {**form, "parameters": "rate=0"}, follow=True)
    assert "--rate must be a positive, finite number" in refused.content.decode() and not Run.objects.exists()
    client.post(reverse("admin:migrations_ops_run_start"), {**form, "parameters": "rate=1.5\nuah_rate=0.025"})
    plan = Run.objects.get()
    assert plan.params == {"workspace": "default", "rate": "1.5", "uah_rate": "0.025"}
    assert tasks.run_execute_task(plan.pk, None) == RunStatus.SUCCEEDED
    assert Run.objects.get().totals["credits"] == 150 + 16 + 1 + 75 + 30 + 25 + 10 + 4
