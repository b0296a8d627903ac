"""key-credits: edge cases, dry run = execute, idempotence, batches, conservation, rollback."""
import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from ledger.actors import Actor
from ledger.models import AuditEvent, CreditAccount, Grant, GrantKind, LedgerEntry, OwnerKind, Workspace
from ledger.services.debits import debit_create
from ledger.services.grants import grant_create
from migrations_ops.exceptions import CheckFailed, RollbackRefused, StalePlan
from migrations_ops.legacy import KEYS_TABLE, legacy_table_drop
from migrations_ops.models import LegacyKey, RecordAction, Run, RunStatus
from migrations_ops.services import rollbacks, runs
from migrations_ops.services.key_credits import key_credits_debit, key_credits_get, key_policy
from migrations_ops.services.key_phase import key_credits_phase

from ...ledger.helpers import snapshot
from ..conftest import EDGE_KEYS, FAILED, LAST_REFILL, MIGRATED, keys_table_create, operation_run, phase_store

# Every test here runs through both batch paths (set-based on PostgreSQL, row by row).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("batch_path")]


def ledger_state():
    """Every key account (balance and refill policy) and every live migration grant."""
    accounts = {
        a.api_key.external_id: (a.workspace.slug, a.balance, a.refill_amount, a.refill_interval, a.refill_day, a.last_refill_at)
        for a in CreditAccount.objects.select_related("api_key", "workspace").filter(owner_kind=OwnerKind.API_KEY)
    }
    grants = sorted(
        Grant.objects.filter(kind=GrantKind.MIGRATION, voided_at__isnull=True).values_list("source_id", "amount", "expires_at")
    )
    return accounts, grants


def test_execute_migrates_live_limited_keys_and_counts_the_rest(legacy_keys, dual_phase):
    run = operation_run()
    assert run.status == RunStatus.SUCCEEDED
    assert (run.scanned, run.changed, run.skipped, run.failed) == (12, 5, 3, 4)
    assert run.totals == {
        "credits": sum(MIGRATED.values()), "grants": 4, "accounts_opened": 5, "zero_balance": 1,
        "refill_policies": 4, "skipped_deleted": 2, "skipped_unlimited": 1,
    }
    accounts, grants = ledger_state()
    assert {key: state[1] for key, state in accounts.items()} == MIGRATED
    assert grants == sorted((key, amount, None) for key, amount in MIGRATED.items() if amount)
    assert accounts["key_a02"][2:] == (500, "monthly", 31, LAST_REFILL)
    assert accounts["key_a05"][2:] == (1000, "daily", None, LAST_REFILL)
    assert accounts["key_b01"][2:] == (70, "monthly", 1, None)
    assert accounts["key_a01"][2:] == (None, "", None, None)
    assert accounts["key_b01"][0] == "ws_beta"
    failed = {r.row_key: r.message for r in run.records.filter(action=RecordAction.FAILED)}
    assert set(failed) == FAILED
    assert "negative" in failed["key_a06"] and "refill_day 40" in failed["key_a07"]
    assert "maximum" in failed["key_b02"] and "slug" in failed["key_c01"]


def test_dry_run_reports_the_summary_execute_then_reports_and_writes_nothing(legacy_keys, dual_phase):
    before = snapshot()
    plan = operation_run(dry_run=True)
    assert snapshot()[:4] == before[:4]
    assert not Workspace.objects.exists()
    executed = operation_run(plan_id=plan.pk)
    assert plan.summary() == executed.summary()
    assert executed.plan_id == plan.pk
    assert list(plan.records.values_list("row_key", "action")) == list(executed.records.values_list("row_key", "action"))


def test_rerun_changes_nothing(legacy_keys, dual_phase):
    operation_run()
    state, entries = ledger_state(), LedgerEntry.objects.count()
    again = operation_run(batch_size=5)
    assert (again.changed, again.failed, again.totals.get("skipped_migrated")) == (0, 4, 5)
    assert ledger_state() == state and LedgerEntry.objects.count() == entries


def test_batches_follow_the_primary_key_cursor(legacy_keys, dual_phase):
    run = operation_run(batch_size=5)
    assert run.batches == 3 and run.cursor == "key_c02"
    assert list(run.records.values_list("row_key", flat=True)) == sorted(k.pk for k in LegacyKey.objects.all())


def test_workspace_filter_migrates_only_that_workspace(legacy_keys, dual_phase):
    run = operation_run(params={"workspace": "ws_beta"})
    assert (run.scanned, run.changed, run.failed) == (3, 2, 1)
    assert set(ledger_state()[0]) == {"key_b01", "key_b03"}


def test_execute_is_refused_outside_the_dual_phase_unless_forced(legacy_keys, settings):
    phase_store("legacy")
    with pytest.raises(CheckFailed, match="the key credits phase is 'legacy'"):
        operation_run()
    assert not Run.objects.exists()
    run = operation_run(force=True)
    assert run.forced and run.status == RunStatus.SUCCEEDED
    assert AuditEvent.objects.get(action="migration.run_create").details["forced"] is True


def test_max_rows_pauses_and_resume_finishes_like_one_run(legacy_keys, dual_phase):
    run = operation_run(max_rows=4, batch_size=3)
    assert run.status == RunStatus.PAUSED and run.scanned == 4 and run.cursor == "key_a04"
    Run.objects.filter(pk=run.pk).update(options={"batch_size": 3})
    resumed = runs.run_execute(run_id=run.pk, actor=Actor.system("tests"))
    assert resumed.status == RunStatus.SUCCEEDED
    assert (resumed.scanned, resumed.changed, resumed.skipped, resumed.failed) == (12, 5, 3, 4)
    assert {key: state[1] for key, state in ledger_state()[0].items()} == MIGRATED


def test_a_batch_that_breaks_conservation_rolls_back_and_fails_the_run(legacy_keys, dual_phase, monkeypatch):
    from migrations_ops.operations.key_credits import KeyCreditsOperation

    real = KeyCreditsOperation.batch_apply

    def short_grant(self, *, rows, ctx):  # whichever path wrote it, key_a05's lot is one credit short
        done = real(self, rows=rows, ctx=ctx)
        Grant.objects.filter(source_id="key_a05").update(amount=F("amount") - 1, remaining=F("remaining") - 1)
        return done

    monkeypatch.setattr(KeyCreditsOperation, "batch_apply", short_grant)
    with pytest.raises(Exception, match="broke 'credits"):
        operation_run(batch_size=3)
    run = Run.objects.get()
    assert run.status == RunStatus.FAILED and "ws_alpha: keys hold" in run.error
    assert run.scanned == 3 and run.cursor == "key_a03"
    assert set(ledger_state()[0]) == {"key_a01", "key_a02"}


def test_stale_plan_is_refused(legacy_keys, dual_phase):
    plan = operation_run(dry_run=True)
    LegacyKey.objects.filter(pk="key_a01").update(remaining_requests=99)
    with pytest.raises(StalePlan, match=f"dry run #{plan.pk}"):
        operation_run(plan_id=plan.pk)
    assert not Run.objects.filter(dry_run=False).exists()


def test_rollback_voids_migration_grants_and_clears_refill_policies(legacy_keys, dual_phase, actor):
    run = operation_run()
    results = rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="wrong phase")
    run.refresh_from_db()
    assert run.status == RunStatus.ROLLED_BACK
    assert results == {"reverted": 5, "voided": sum(MIGRATED.values()), "phase_to_legacy": 1}
    accounts, grants = ledger_state()
    assert grants == [] and all(state[1:] == (0, None, "", None, None) for state in accounts.values())
    assert AuditEvent.objects.filter(action="migration.rollback", reason="wrong phase").exists()
    phase_store("dual")  # the operator deploys the dual-write phase again
    rerun = operation_run()
    assert rerun.changed == 5 and {k: s[1] for k, s in ledger_state()[0].items()} == MIGRATED


def test_rollback_is_refused_listing_accounts_whose_credits_were_spent(legacy_keys, dual_phase, actor):
    run = operation_run()
    account = CreditAccount.objects.get(api_key__external_id="key_a01")
    debit_create(account_id=account.pk, amount=30, actor=actor, idempotency_key="use")
    with pytest.raises(RollbackRefused) as refused:
        rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo")
    assert refused.value.blockers == [f"account #{account.pk} (key key_a01): 30 of 100 migrated credits spent since"]
    assert Grant.objects.filter(voided_at__isnull=False).count() == 0
    rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo", settle="keep")
    account.refresh_from_db()
    assert (account.balance, account.total_spent) == (0, 30)


def test_key_policy_maps_refill_day_to_interval():
    assert key_policy(LegacyKey(refill_amount=5, refill_day=None))["refill_interval"] == "daily"
    assert key_policy(LegacyKey(refill_amount=5, refill_day=9))["refill_interval"] == "monthly"
    assert key_policy(LegacyKey(refill_amount=None, refill_day=9))["refill_day"] is None


def test_rollback_hands_the_keys_back_to_the_keys_table_and_they_keep_working(legacy_keys, dual_phase, actor):
    run = operation_run()
    key_credits_debit(key_id="key_a01", amount=30, actor=actor, idempotency_key="before")
    results = rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo", settle="keep")
    assert results["phase_to_legacy"] == 1 and key_credits_phase() == "legacy"
    event = AuditEvent.objects.get(action="key_credits.phase_change")
    assert (event.details, event.reason) == ({"from": "dual", "to": "legacy"}, f"rollback of key-credits run #{run.pk}")
    # The account now holds 0; the key still has its 70 in the keys table, and is debited there.
    after = key_credits_debit(key_id="key_a01", amount=20, actor=actor, idempotency_key="after")
    assert (after.remaining, after.source) == (50, "keys")
    assert CreditAccount.objects.get(api_key__external_id="key_a01").balance == 0


def test_rollback_in_the_credits_phase_waits_for_the_sync_back(legacy_keys, dual_phase, actor):
    run = operation_run()
    phase_store("credits")
    key_credits_debit(key_id="key_a01", amount=30, actor=actor)  # the account only: keys still say 100
    with pytest.raises(RollbackRefused, match="run key-credits-sync-back first"):
        rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo", settle="keep")
    operation_run("key-credits-sync-back")
    rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo", settle="keep")
    assert key_credits_phase() == "legacy" and key_credits_get(key_id="key_a01").remaining == 70


def test_rollback_writes_in_a_fixed_number_of_statements_per_batch(actor, dual_phase, transactional_db):
    extra = [(f"key_z{n:02}", "ws_zeta", 10 + n, None, 50, None, None) for n in range(40)]
    keys_table_create(EDGE_KEYS + extra)
    try:
        run = operation_run(batch_size=100)
        with CaptureQueriesContext(connection) as queries:
            results = rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo")
        assert results["reverted"] == 45
        # One batch: about 30 statements whatever its size (row by row it was about 10 per key),
        # plus the claim of the run (lock, status, audit) and a heartbeat per batch.
        assert len(queries) <= 36, [q["sql"][:80] for q in queries]
        accounts, grants = ledger_state()
        assert grants == [] and all(state[1] == 0 for state in accounts.values())
        assert all(r.reverted_at for r in run.records.filter(action=RecordAction.CHANGED))
    finally:
        legacy_table_drop(KEYS_TABLE)


def test_credits_spent_between_the_check_and_a_batch_refuse_that_batch(legacy_keys, dual_phase, actor, monkeypatch):
    from migrations_ops.operations.key_credits import KeyCreditsOperation

    run = operation_run()
    debit_create(account_id=CreditAccount.objects.get(api_key__external_id="key_b01").pk, amount=3, actor=actor,
                 idempotency_key="late")
    monkeypatch.setattr(KeyCreditsOperation, "rollback_blockers", lambda self, **kwargs: [])
    with pytest.raises(RollbackRefused, match="keys key_b01: migrated credits were spent since the check"):
        rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo")
    # Batches of 3: the first (a01, a02, a05) is rolled back; the one with b01 wrote nothing.
    assert Grant.objects.get(source_id="key_b01").voided_at is None
    assert set(Grant.objects.filter(voided_at__isnull=False).values_list("source_id", flat=True)) == {"key_a01", "key_a05"}


def test_voiding_lots_already_voided_writes_nothing(legacy_keys, dual_phase, actor):
    from django.db import transaction

    from ledger.services.bulk import lots_void

    operation_run()
    lot_ids = list(Grant.objects.values_list("pk", flat=True))
    entries = LedgerEntry.objects.count()
    with transaction.atomic():
        first = lots_void(idempotency_keys={pk: None for pk in lot_ids}, actor=actor, reason="test")
        again = lots_void(idempotency_keys={pk: None for pk in lot_ids}, actor=actor, reason="test")
    assert first == (len(lot_ids), sum(MIGRATED.values())) and again == (0, 0)
    assert LedgerEntry.objects.count() == entries + len(lot_ids)


def test_a_run_forced_in_the_legacy_phase_rolls_back_only_its_own_lots(legacy_keys, actor):
    """In legacy nothing was written into the keys: a grant made on the account since is
    not in the keys table, so the rollback leaves it where it is."""
    phase_store("legacy")
    run = operation_run(force=True)
    account = CreditAccount.objects.get(api_key__external_id="key_a01")
    grant_create(account_id=account.pk, amount=7, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="p")
    results = rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo")
    account.refresh_from_db()
    assert (results["phase_to_legacy"], account.balance) == (0, 7)
