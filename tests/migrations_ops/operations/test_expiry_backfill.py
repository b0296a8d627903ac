"""expiry-backfill: old lots get an expiry (past-due ones expire now), users.credits become
opening grants, verify against the expiry report, rollback with new entries."""
import io
import signal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger import clock
from ledger.models import CreditAccount, Customer, EntryType, Grant, GrantKind, LedgerEntry, OwnerKind, Workspace
from ledger.services.accounts import account_open
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from migrations_ops.exceptions import InvalidParams, RollbackRefused
from migrations_ops.models import LegacyUser, RecordAction, Run, RunStatus
from migrations_ops.services import rollbacks, runs
from migrations_ops.services.expiry_backfill import SOURCE, grants_without_expiry
from migrations_ops.services.key_credits import SOURCE as KEY_SOURCE

from ...ledger.helpers import snapshot
from ..conftest import operation_run
from ..management.test_migrate_credits import migrate_process

OP = "expiry-backfill"


def months_ago(months):
    return clock.add_months(clock.now(), -months)


def ledger_create(actor):
    """Alice: a 100-credit lot from 8 months ago (20 spent), a 50 from 2 months ago and a
    refill lot, none with an expiry; a key account with a never-expiring key-credits grant."""
    workspace = Workspace.objects.create(slug="ws_old", name="Old")
    alice = Customer.objects.create(workspace=workspace, external_id="alice", email="alice@example.com")
    account = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.CUSTOMER, owner_id=alice.pk)
    for amount, months, kind in [(100, 8, GrantKind.PURCHASE), (50, 2, GrantKind.PURCHASE), (30, 9, GrantKind.REFILL)]:
        grant_create(account_id=account.pk, amount=amount, kind=kind, actor=actor, idempotency_key=f"g{amount}",
                     effective_from=months_ago(months), expires_at=None)
    debit_create(account_id=account.pk, amount=20, actor=actor, idempotency_key="d1")
    keys = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.WORKSPACE)
    grant_create(account_id=keys.pk, amount=70, kind=GrantKind.MIGRATION, actor=actor, idempotency_key="k",
                 source=KEY_SOURCE, source_id="key_1", expires_at=None, effective_from=months_ago(12))
    return account


def users_create():
    LegacyUser.objects.bulk_create([
        LegacyUser(id=1, email="one@example.com", credits=10, created_at=months_ago(12)),   # past due
        LegacyUser(id=2, email="two@example.com", credits=100, created_at=months_ago(1)),
        LegacyUser(id=3, email="three@example.com", credits=0, created_at=months_ago(3)),   # nothing to open
        LegacyUser(id=4, email="four@example.com", credits=-5, created_at=months_ago(3)),   # negative: failed
        LegacyUser(id=5, email="five@", credits=7, created_at=months_ago(3)),               # bad email: failed
    ])


@pytest.fixture
def legacy_expiry(db, actor):
    account = ledger_create(actor)
    users_create()
    return account


def lots():
    return list(Grant.objects.order_by("pk").values("pk", "remaining", "expires_at", "expired_at", "voided_at"))


def balances():
    return list(CreditAccount.objects.order_by("pk").values_list("pk", "balance", "debt", "total_expired"))


def users_dump():
    return list(LegacyUser.objects.order_by("pk").values_list())


def user_account(user_id):
    return CreditAccount.objects.get(customer__external_id=str(user_id), customer__workspace__slug="legacy-users")


def test_execute_backfills_expires_past_due_and_opens_users(legacy_expiry):
    run = operation_run(OP, batch_size=2)
    assert run.status == RunStatus.SUCCEEDED
    assert (run.scanned, run.changed, run.skipped, run.failed) == (7, 4, 1, 2)
    assert run.totals == {"grants_backfilled": 2, "grants_expired": 1, "credits_expired": 80, "users_opened": 2,
                          "opening_credits": 110, "opening_expired": 10, "skipped_zero": 1, "opening_lots": 2,
                          "users_credits_after": 100, "users_mismatched": 2}
    old, recent, refill = Grant.objects.filter(account=legacy_expiry).order_by("pk")
    assert (old.remaining, old.expired_at is not None, old.expires_at) == (0, True, clock.add_months(old.effective_from, 6))
    assert (recent.remaining, recent.expired_at, refill.expires_at) == (50, None, None)
    legacy_expiry.refresh_from_db()
    assert (legacy_expiry.balance, legacy_expiry.total_expired) == (80, 80)
    assert LedgerEntry.objects.filter(lot=old, entry_type=EntryType.EXPIRE).get().amount == -80
    assert (user_account(1).balance, user_account(2).balance) == (0, 100)
    assert list(LegacyUser.objects.filter(pk__in=[1, 2]).order_by("pk").values_list("credits", flat=True)) == [0, 100]
    mismatch = run.records.get(row_key="user:2")
    assert (mismatch.new["transactions_net"], mismatch.new["difference"]) == (0, 100)
    assert "the surplus opens as credits dated at signup" in mismatch.message
    opening = Grant.objects.get(source=SOURCE, source_id="1")
    assert (opening.kind, opening.effective_from) == (GrantKind.MIGRATION, LegacyUser.objects.get(pk=1).created_at)
    assert grants_without_expiry().count() == 0
    assert Grant.objects.filter(source=KEY_SOURCE).get().expires_at is None
    failed = dict(run.records.filter(action=RecordAction.FAILED).values_list("row_key", "message"))
    assert "negative" in failed["user:4"] and "not a valid address" in failed["user:5"]
    assert runs.run_verify(run_id=run.pk, actor=run_actor()) == ["2 rows failed; see the run's failed records"]


def run_actor():
    from ledger.actors import Actor

    return Actor.system("tests")


def test_verify_matches_the_users_affected_by_expiry_report(legacy_expiry):
    from ledger.reports.expiry import ExpiryReport

    run = operation_run(OP)
    rows = {row[0]: row for row in ExpiryReport().run().rows}
    assert rows["alice"][1:2] + rows["alice"][4:6] == ["alice@example.com", 80, 80]
    assert rows["1"][1:2] + rows["1"][4:6] == ["one@example.com", 0, 10]
    assert runs.run_verify(run_id=run.pk, actor=run_actor())[:-1] == []


def test_dry_run_writes_nothing_and_equals_execute(legacy_expiry):
    before = snapshot()
    plan = operation_run(OP, dry_run=True, batch_size=3)
    assert snapshot()[1:4] == before[1:4] and not Workspace.objects.filter(slug="legacy-users").exists()
    run = operation_run(OP, plan_id=plan.pk, batch_size=3)
    assert plan.summary() == run.summary()
    assert list(plan.records.values_list("row_key", "action")) == list(run.records.values_list("row_key", "action"))


def test_rerun_changes_nothing(legacy_expiry):
    operation_run(OP)
    state, entries = (lots(), balances()), LedgerEntry.objects.count()
    again = operation_run(OP)
    assert (again.changed, again.failed, again.totals.get("skipped_migrated")) == (0, 2, 2)
    assert (lots(), balances()) == state and LedgerEntry.objects.count() == entries


def test_months_override_expires_more(legacy_expiry):
    run = operation_run(OP, params={"months": "1"})
    assert run.params["months"] == 1
    assert (run.totals["grants_expired"], run.totals["credits_expired"], run.totals["opening_expired"]) == (2, 130, 110)


@pytest.mark.parametrize("months, message", [
    ("0", "from 1 to 1200, not 0"), ("-3", "from 1 to 1200, not -3"), ("abc", "whole number of months, not 'abc'"),
    ("1.5", "whole number"), ("5000", "not 5000"),
])
def test_bad_months_are_refused_with_a_clear_message_and_nothing_written(legacy_expiry, months, message):
    before = snapshot()
    with pytest.raises(InvalidParams, match=message):
        operation_run(OP, params={"months": months})
    with pytest.raises(CommandError, match=message):
        call_command("migrate_credits", OP, "--execute", "--yes", "--months", months, stdout=io.StringIO())
    assert not Run.objects.exists() and snapshot() == before


def test_rollback_restores_lots_and_balances_with_new_entries(legacy_expiry, actor):
    before_lots, before_balances, before_users = lots(), balances(), users_dump()
    entries = LedgerEntry.objects.count()
    run = operation_run(OP)
    result = rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="policy postponed")
    assert result == {"reverted": 4, "expiry_restored": 80, "expiry_cleared": 2, "voided": 100,
                      "users_credits_restored": 2}
    after = {lot["pk"]: lot for lot in lots()}
    assert [after[lot["pk"]] for lot in before_lots] == before_lots
    assert [b for b in balances() if b[0] in {x[0] for x in before_balances}] == before_balances
    assert users_dump() == before_users
    assert user_account(1).balance == 0 and user_account(2).balance == 0
    assert LedgerEntry.objects.count() > entries  # reversed with new entries, none deleted
    reversal = LedgerEntry.objects.filter(entry_type=EntryType.EXPIRE, amount__gt=0, account=legacy_expiry).get()
    assert reversal.amount == 80 and "Reversal" in reversal.description


def test_rollback_is_refused_where_opening_credits_were_spent_unless_settled(legacy_expiry, actor):
    run = operation_run(OP)
    account = user_account(2)
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="spend")
    with pytest.raises(RollbackRefused) as refused:
        rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo")
    assert refused.value.blockers == [f"user:2 (account #{account.pk}): 30 of 100 opening credits spent since"]
    assert Grant.objects.filter(voided_at__isnull=False).count() == 0
    rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo", settle="keep")
    account.refresh_from_db()
    assert (account.balance, account.total_spent) == (0, 30)


def test_users_credits_default_changed_from_10_to_100_by_a_schema_migration(db):
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    create = loader.get_migration("migrations_ops", "0004_legacy_users").operations[0]
    alter = loader.get_migration("migrations_ops", "0005_users_credits_default_100").operations[0]
    assert dict(create.fields)["credits"].db_default == 10
    assert (alter.name, alter.field.db_default) == ("credits", 100)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT column_default FROM information_schema.columns "
                           "WHERE table_name = 'users' AND column_name = 'credits'")
            assert cursor.fetchone()[0] == "100"
        else:
            cursor.execute('PRAGMA table_info("users")')
            assert {row[1]: row[4] for row in cursor.fetchall()}["credits"] == "100"
        cursor.execute("INSERT INTO users (email, created_at) VALUES ('new@example.com', %s)",
                       [connection.ops.adapt_datetimefield_value(clock.now())])
    assert LegacyUser.objects.get(email="new@example.com").credits == 100


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kill_at", ["between:2", "inside:2"])
def test_resume_after_kill_9_ends_like_an_uninterrupted_run(transactional_db, actor, kill_at):
    ledger_create(actor)
    users_create()
    plan = operation_run(OP, dry_run=True, batch_size=2)
    killed = migrate_process(OP, "--execute", "--yes", "--batch-size", "2", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = Run.objects.get(dry_run=False)
    resumed = migrate_process("--resume", str(run.pk), "--json")
    assert resumed.returncode == 0, resumed.stderr
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.summary() == plan.summary()
    assert grants_without_expiry().count() == 0 and user_account(2).balance == 100


def test_admin_starts_a_dry_run_with_months_and_refuses_bad_months(client, legacy_expiry, monkeypatch):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from migrations_ops import tasks

    from ...factories import StaffFactory

    user = StaffFactory()
    user.user_permissions.set(Permission.objects.filter(codename__in=["run_migrations", "view_run"]))
    client.force_login(user)
    monkeypatch.setattr(tasks.run_execute_task, "delay", lambda *a: None)
    form = {"operation": OP, "workspace": "", "batch_size": 10, "throttle_ms": 0}
    refused = client.post(reverse("admin:migrations_ops_run_start"), {**form, "months": "0"})
    assert refused.status_code == 200 and b"--months must be from 1 to 1200" in refused.content
    assert not Run.objects.exists()
    client.post(reverse("admin:migrations_ops_run_start"), {**form, "months": "3"})
    plan = Run.objects.get()
    assert plan.dry_run and plan.params == {"months": 3}
    assert tasks.run_execute_task(plan.pk, user.pk) == RunStatus.SUCCEEDED
    assert Run.objects.get(pk=plan.pk).totals["users_opened"] == 2


def test_a_user_who_joined_long_ago_keeps_last_weeks_credits(db):
    """users.credits 60 = +100 ten months ago, -50 nine months ago, +10 last week: the old
    credits lapsed (50 left of them expire now), last week's 10 stay until their own expiry."""
    from datetime import timedelta

    from migrations_ops.legacy import legacy_rows_insert, legacy_table_create
    from migrations_ops.legacy_credits import CREDIT_TRANSACTIONS_TABLE

    legacy_table_create(CREDIT_TRANSACTIONS_TABLE)
    week_ago = clock.now() - timedelta(days=7)
    LegacyUser.objects.create(id=1, email="old@example.com", credits=60, created_at=months_ago(12))
    legacy_rows_insert(CREDIT_TRANSACTIONS_TABLE, [
        (1, 1, 100, months_ago(10), "grant"), (2, 1, -50, months_ago(9), "usage"), (3, 1, 10, week_ago, "grant"),
    ])
    run = operation_run(OP)
    account = user_account(1)
    assert account.balance == 10
    live = Grant.objects.get(account=account, expired_at__isnull=True)
    assert (live.remaining, live.expires_at) == (10, clock.add_months(week_ago, 6))
    assert LegacyUser.objects.get(pk=1).credits == 10
    assert run.totals["opening_expired"] == 50


@pytest.fixture
def history(db):
    """Three users with credit_transactions: one agrees with users.credits, one has fewer
    users.credits than the history (an unrecorded spend), one spent more than it had."""
    from datetime import timedelta

    from migrations_ops.legacy import legacy_rows_insert, legacy_table_create, legacy_table_drop
    from migrations_ops.legacy_credits import CREDIT_TRANSACTIONS_TABLE

    legacy_table_create(CREDIT_TRANSACTIONS_TABLE)
    week = clock.now() - timedelta(days=7)
    LegacyUser.objects.bulk_create([
        LegacyUser(id=1, email="a@example.com", credits=60, created_at=months_ago(12)),
        LegacyUser(id=2, email="b@example.com", credits=15, created_at=months_ago(12)),
        LegacyUser(id=3, email="c@example.com", credits=70, created_at=months_ago(3)),
    ])
    legacy_rows_insert(CREDIT_TRANSACTIONS_TABLE, [
        (1, 1, 100, months_ago(10), "grant"), (2, 1, -50, months_ago(9), "usage"), (3, 1, 10, week, "grant"),
        (4, 2, 100, months_ago(8), "grant"), (5, 2, 20, week, "grant"),
        (6, 3, 10, months_ago(2), "grant"), (7, 3, -40, months_ago(2) + timedelta(hours=1), "usage"),
        (8, 3, 100, months_ago(1), "grant"),
    ])
    yield week
    legacy_table_drop(CREDIT_TRANSACTIONS_TABLE)


def test_history_opens_dated_lots_records_mismatches_and_recalculates_users_credits(history):
    plan = operation_run(OP, dry_run=True, batch_size=2)
    assert LegacyUser.objects.get(pk=1).credits == 60 and not Grant.objects.exists()
    run = operation_run(OP, plan_id=plan.pk, batch_size=2)
    assert plan.summary() == run.summary()
    assert run.totals == {"users_opened": 3, "opening_credits": 145, "opening_expired": 50, "opening_lots": 4,
                          "users_credits_after": 95, "users_mismatched": 1}
    assert [user_account(pk).balance for pk in (1, 2, 3)] == [10, 15, 70]
    # user 2: the 105 credits missing from users.credits are taken from the oldest lot first.
    assert list(Grant.objects.filter(account=user_account(2)).values_list("amount", "expires_at")) == [
        (15, clock.add_months(history, 6))]
    assert "shortfall is taken as an unrecorded spend" in run.records.get(row_key="user:2").message
    # user 3: the 40 spent beyond its 10 credits is paid by the next 100.
    assert Grant.objects.get(account=user_account(3)).amount == 70
    assert dict(LegacyUser.objects.values_list("pk", "credits")) == {1: 10, 2: 15, 3: 70}
    assert runs.run_verify(run_id=run.pk, actor=run_actor()) == []


def test_rollback_restores_users_credits_and_voids_the_live_lots(history, actor):
    before = users_dump()
    run = operation_run(OP)
    result = rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="policy postponed")
    assert result == {"reverted": 3, "voided": 95, "users_credits_restored": 3}
    assert users_dump() == before
    assert [user_account(pk).balance for pk in (1, 2, 3)] == [0, 0, 0]


def test_rollback_refuses_a_users_credits_changed_since(history, actor):
    run = operation_run(OP)
    LegacyUser.objects.filter(pk=3).update(credits=5)
    with pytest.raises(RollbackRefused) as refused:
        rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo")
    assert refused.value.blockers == ["user:3: users.credits is 5 since, not 70"]
    rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo", settle="keep")
    assert dict(LegacyUser.objects.values_list("pk", "credits")) == {1: 60, 2: 15, 3: 5}
