"""Per-key credits by phase (legacy, dual, credits), the mismatch check and the sync-back."""
from datetime import UTC, datetime

import pytest

from ledger.exceptions import InsufficientCredits
from ledger.models import ApiKey, CreditAccount, LedgerEntry, Workspace
from migrations_ops.exceptions import RollbackRefused
from migrations_ops.models import LegacyKey, RunStatus
from migrations_ops.selectors import key_credit_mismatches, keys_migration_counts
from migrations_ops.services import rollbacks, runs
from migrations_ops.services.key_credits import key_credits_debit, key_credits_get, key_credits_refill

from ..conftest import operation_run, phase_store

pytestmark = pytest.mark.django_db


def remaining(key_id):
    return LegacyKey.objects.get(pk=key_id).remaining_requests


def balance(key_id):
    return CreditAccount.objects.get(api_key__external_id=key_id).balance


@pytest.fixture
def migrated(legacy_keys, dual_phase):
    return operation_run()


def test_legacy_phase_debits_the_keys_table_only(migrated, settings, actor):
    phase_store("legacy")
    result = key_credits_debit(key_id="key_a01", amount=10, actor=actor)
    assert (result.remaining, result.source) == (90, "keys")
    assert (remaining("key_a01"), balance("key_a01")) == (90, 100)


def test_dual_phase_debits_both_in_one_transaction_and_reads_keys_first(migrated, actor):
    result = key_credits_debit(key_id="key_a01", amount=10, actor=actor, idempotency_key="u1")
    assert (result.remaining, result.source) == (90, "keys")
    assert (remaining("key_a01"), balance("key_a01")) == (90, 90)
    key_credits_debit(key_id="key_a01", amount=10, actor=actor, idempotency_key="u1")
    assert (remaining("key_a01"), balance("key_a01")) == (90, 90)
    assert key_credit_mismatches() == []


def test_dual_phase_refuses_an_overdraft_and_writes_nowhere(migrated, actor):
    entries = LedgerEntry.objects.count()
    with pytest.raises(InsufficientCredits):
        key_credits_debit(key_id="key_b01", amount=8, actor=actor)
    assert (remaining("key_b01"), balance("key_b01"), LedgerEntry.objects.count()) == (7, 7, entries)


def test_dual_phase_reads_the_account_when_the_keys_table_has_no_value(migrated):
    LegacyKey.objects.filter(pk="key_a01").update(remaining_requests=None)
    assert key_credits_get(key_id="key_a01").source == "ledger"
    assert key_credits_get(key_id="key_a01").remaining == 100


def test_dual_phase_debits_only_the_keys_table_before_a_key_is_migrated(legacy_keys, dual_phase, actor):
    key_credits_debit(key_id="key_a01", amount=1, actor=actor)
    assert remaining("key_a01") == 99 and not CreditAccount.objects.exists()


def test_credits_phase_uses_the_ledger_only(migrated, settings, actor):
    phase_store("credits")
    result = key_credits_debit(key_id="key_a01", amount=40, actor=actor)
    assert (result.remaining, result.source) == (60, "ledger")
    assert (remaining("key_a01"), balance("key_a01")) == (100, 60)


def test_dual_phase_refill_resets_both_places_once_per_day(migrated, actor):
    at = datetime(2026, 5, 1, 9, tzinfo=UTC)
    key_credits_debit(key_id="key_b01", amount=5, actor=actor)
    key_credits_refill(key_id="key_b01", actor=actor, at=at)
    key_credits_refill(key_id="key_b01", actor=actor, at=at)
    assert (remaining("key_b01"), balance("key_b01")) == (70, 70)
    account = CreditAccount.objects.get(api_key__external_id="key_b01")
    assert account.last_refill_at == at == LegacyKey.objects.get(pk="key_b01").last_refill_at


def test_mismatches_list_keys_whose_account_differs_in_one_query(migrated, settings, actor, django_assert_num_queries):
    phase_store("legacy")
    key_credits_debit(key_id="key_a05", amount=3, actor=actor)
    with django_assert_num_queries(1):
        found = key_credit_mismatches()
    assert [(m.key_id, m.remaining_requests, m.balance) for m in found] == [("key_a05", 10**12 - 3, 10**12)]
    assert key_credit_mismatches(workspace="ws_beta") == []
    assert keys_migration_counts() == {"migrated": 5, "pending": 4}


def test_sync_back_writes_balances_into_keys_and_rolls_back(migrated, settings, actor):
    phase_store("credits")
    key_credits_debit(key_id="key_a01", amount=40, actor=actor)
    key_credits_debit(key_id="key_b01", amount=2, actor=actor)
    run = operation_run("key-credits-sync-back")
    assert (run.status, run.changed, run.totals) == (RunStatus.SUCCEEDED, 2, {"credits_before": 107, "credits_after": 65})
    assert (remaining("key_a01"), remaining("key_b01")) == (60, 5)
    assert runs.run_verify(run_id=run.pk, actor=actor) == []
    rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="sync-back was premature")
    assert (remaining("key_a01"), remaining("key_b01")) == (100, 7)


def test_sync_back_rollback_refuses_keys_changed_since(migrated, settings, actor):
    phase_store("credits")
    key_credits_debit(key_id="key_a01", amount=40, actor=actor)
    run = operation_run("key-credits-sync-back")
    LegacyKey.objects.filter(pk="key_a01").update(remaining_requests=55)
    with pytest.raises(RollbackRefused, match="1 rows"):
        rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo")
    rollbacks.run_rollback(run_id=run.pk, actor=actor, reason="undo", settle="keep")
    assert remaining("key_a01") == 55


def test_sync_back_over_keys_never_migrated_writes_no_ledger_rows(legacy_keys, settings, batch_path):
    phase_store("credits")
    run = operation_run("key-credits-sync-back")
    assert (run.status, run.changed) == (RunStatus.SUCCEEDED, 0)
    assert not CreditAccount.objects.exists() and not ApiKey.objects.exists() and not Workspace.objects.exists()
    assert remaining("key_a01") == 100
