"""Every write path honours the stored phase: in dual, a write on a migrated key's account
from anywhere (nightly refill, REST, admin services, expiry, voids) writes the key too, in
the same transaction; key debits are idempotent before a key is migrated."""
from datetime import UTC, datetime, timedelta

import pytest

from ledger.exceptions import IdempotencyConflict
from ledger.models import CreditAccount, Grant, GrantKind, LedgerEntry
from ledger.services.backoffice import staff_adjust, staff_grant, staff_void
from ledger.services.debits import debit_create, refund_create
from ledger.services.expiry import grants_expire_due
from ledger.services.refills import accounts_refill_due
from migrations_ops.models import KeyCreditsDebit, LegacyKey
from migrations_ops.selectors import key_credit_mismatches
from migrations_ops.services.key_credits import key_credits_debit, key_credits_refill

from ...ledger.api.conftest import client_for, post
from ..conftest import operation_run, phase_store

pytestmark = pytest.mark.django_db


def remaining(key_id):
    return LegacyKey.objects.get(pk=key_id).remaining_requests


def account_of(key_id):
    return CreditAccount.objects.get(api_key__external_id=key_id)


@pytest.fixture
def migrated(legacy_keys, dual_phase):
    return operation_run()


def test_the_nightly_refill_writes_the_account_and_the_key_in_the_dual_phase(migrated, actor):
    """key_b01: monthly on the 1st, refill amount 70, 7 left: both places become 70."""
    key_credits_debit(key_id="key_b01", amount=5, actor=actor)
    moment = datetime(2026, 6, 1, 0, 5, tzinfo=UTC)
    assert accounts_refill_due(actor=actor, at=moment).refilled >= 1
    key = LegacyKey.objects.get(pk="key_b01")
    assert (key.remaining_requests, account_of("key_b01").balance, key.last_refill_at) == (70, 70, moment)
    assert key_credit_mismatches() == []


def test_rest_debits_and_grants_on_a_key_account_write_the_key(migrated, debit_path):
    account = account_of("key_a01")
    api = client_for(account.workspace)
    assert post(api, f"/api/v1/accounts/{account.pk}/debits/", {"amount": 30}).status_code == 201
    assert remaining("key_a01") == 70
    grant = post(api, f"/api/v1/accounts/{account.pk}/grants/", {"amount": 5, "kind": "purchase"})
    assert grant.status_code == 201, grant.content
    assert (remaining("key_a01"), account_of("key_a01").balance) == (75, 75)
    assert key_credit_mismatches() == []


def test_admin_writes_on_a_key_account_write_the_key(migrated, staff_actor):
    account = account_of("key_a01")
    granted = staff_grant(account_id=account.pk, amount=50, kind=GrantKind.MANUAL, reason="goodwill",
                          actor=staff_actor, idempotency_key="g1")
    staff_adjust(account_id=account.pk, amount=-20, reason="correction", actor=staff_actor, idempotency_key="a1")
    assert remaining("key_a01") == 130
    staff_void(grant_id=granted.grant.pk, account_id=account.pk, reason="mistake", actor=staff_actor,
               idempotency_key="v1")
    # The adjustment drew from the expiring manual grant first: voiding it removes its last 30.
    assert (remaining("key_a01"), account_of("key_a01").balance) == (100, 100)
    debit = debit_create(account_id=account.pk, amount=10, actor=staff_actor, idempotency_key="d1")
    refund_create(debit_entry_id=debit.entry.pk, actor=staff_actor, idempotency_key="r1", reason="refund")
    assert remaining("key_a01") == 100 and key_credit_mismatches() == []


def test_expiry_of_a_lot_on_a_key_account_writes_the_key(migrated, staff_actor):
    account = account_of("key_a01")
    soon = datetime.now(UTC) + timedelta(days=1)
    staff_grant(account_id=account.pk, amount=40, kind=GrantKind.MANUAL, reason="trial", actor=staff_actor,
                idempotency_key="g1", expires_at=soon)
    assert remaining("key_a01") == 140
    grants_expire_due(actor=staff_actor, at=soon + timedelta(seconds=1))
    assert (remaining("key_a01"), account_of("key_a01").balance) == (100, 100)


def test_outside_the_dual_phase_ledger_writes_leave_the_keys_alone(migrated, actor):
    account = account_of("key_a01")
    for phase in ("legacy", "credits"):
        phase_store(phase)
        debit_create(account_id=account.pk, amount=10, actor=actor, idempotency_key=f"d-{phase}")
    assert (remaining("key_a01"), account_of("key_a01").balance) == (100, 80)


def test_a_failing_key_write_fails_the_ledger_write(migrated, actor, monkeypatch):
    from migrations_ops.services import key_mirror

    def broken(*args, **kwargs):
        raise RuntimeError("keys table unavailable")

    monkeypatch.setattr(key_mirror.LegacyKey.objects, "filter", broken)
    entries = LedgerEntry.objects.count()
    with pytest.raises(RuntimeError):
        debit_create(account_id=account_of("key_a01").pk, amount=10, actor=actor, idempotency_key="d")
    assert LedgerEntry.objects.count() == entries and account_of("key_a01").balance == 100


def test_the_same_idempotency_key_debits_a_key_not_yet_migrated_once(legacy_keys, dual_phase, actor):
    for _ in range(3):
        result = key_credits_debit(key_id="key_a01", amount=10, actor=actor, idempotency_key="job-1")
    assert (result.remaining, remaining("key_a01"), KeyCreditsDebit.objects.count()) == (90, 90, 1)
    with pytest.raises(IdempotencyConflict):
        key_credits_debit(key_id="key_a01", amount=11, actor=actor, idempotency_key="job-1")
    assert remaining("key_a01") == 90


@pytest.mark.parametrize("phase", ["legacy", "dual", "credits"])
def test_the_same_idempotency_key_debits_once_in_every_phase(migrated, actor, phase):
    phase_store(phase)
    for _ in range(3):
        key_credits_debit(key_id="key_a01", amount=10, actor=actor, idempotency_key="job-1")
    expected = {"legacy": (90, 100), "dual": (90, 90), "credits": (100, 90)}[phase]
    assert (remaining("key_a01"), account_of("key_a01").balance) == expected


def test_a_key_debited_before_its_migration_is_not_debited_again_after_it(legacy_keys, dual_phase, actor):
    key_credits_debit(key_id="key_a01", amount=10, actor=actor, idempotency_key="job-1")
    operation_run()
    key_credits_debit(key_id="key_a01", amount=10, actor=actor, idempotency_key="job-1")
    assert (remaining("key_a01"), account_of("key_a01").balance) == (90, 90)


def test_a_key_refill_resets_what_is_left_in_both_places(migrated, actor):
    """key_a05: 10**12 left, daily refill of 1000: the refill leaves 1000, not 10**12 + 1000."""
    key_credits_refill(key_id="key_a05", actor=actor, at=datetime(2026, 5, 1, 9, tzinfo=UTC))
    assert (remaining("key_a05"), account_of("key_a05").balance) == (1000, 1000)
    lot = Grant.objects.get(account=account_of("key_a05"), kind=GrantKind.MIGRATION)
    assert lot.remaining == 1000 and not Grant.objects.filter(kind=GrantKind.REFILL, account=lot.account).exists()


def test_a_key_refill_in_the_legacy_phase_writes_the_keys_table_only(migrated, actor):
    phase_store("legacy")
    moment = datetime(2026, 5, 1, 9, tzinfo=UTC)
    assert key_credits_refill(key_id="key_a05", actor=actor, at=moment).remaining == 1000
    key = LegacyKey.objects.get(pk="key_a05")
    assert (key.remaining_requests, key.last_refill_at, account_of("key_a05").balance) == (1000, moment, 10**12)


def test_a_key_refill_without_a_refill_policy_is_refused_naming_it(migrated, actor):
    from ledger.exceptions import InvalidInput

    with pytest.raises(InvalidInput, match="refill_amount: key 'key_a01' has no refill policy"):
        key_credits_refill(key_id="key_a01", actor=actor)
    assert remaining("key_a01") == 100
