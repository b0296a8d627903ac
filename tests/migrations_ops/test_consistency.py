"""The key-credits check of the consistency report: in the dual phase, keys whose legacy
remaining differs from their account; skipped with a note otherwise."""
import pytest
from django.db import connection

from ledger.models import CreditAccount, Workspace
from ledger.reports import report_get
from migrations_ops.legacy import KEYS_TABLE, legacy_table_drop

from .conftest import keys_table_create, operation_run, phase_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def migrated():
    """The edge-case keys table migrated in the dual phase: five keys with accounts."""
    phase_store("dual")
    keys_table_create()
    operation_run("key-credits")
    yield
    legacy_table_drop(KEYS_TABLE)


def remaining_set(key_id, value):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE keys SET remaining_requests = %s WHERE id = %s", [value, key_id])


def account_of(key_id):
    return CreditAccount.objects.get(api_key__external_id=key_id)


def test_migrated_keys_in_sync_report_clean(migrated):
    output = report_get("consistency").run()
    assert (output.findings, output.rows) == (0, [])
    assert not any("key_mismatch: skipped" in note for note in output.notes)


def test_planted_mismatches_are_found_exactly(migrated):
    remaining_set("key_a01", 93)
    remaining_set("key_b01", 0)
    with connection.cursor() as cursor:  # a key added since the migration has no account: not a mismatch
        cursor.execute("INSERT INTO keys (id, workspace_id, remaining_requests) VALUES ('key_new', 'ws_alpha', 5)")
    a01, b01 = account_of("key_a01"), account_of("key_b01")
    output = report_get("consistency").run()
    assert output.rows == [
        ["key_mismatch", a01.pk, "ws_alpha", "key key_a01", 100, 93],
        ["key_mismatch", b01.pk, "ws_beta", "key key_b01", 7, 0],
    ]
    assert output.summary["key_mismatch findings"] == 2
    beta = Workspace.objects.get(slug="ws_beta").pk
    assert [row[1] for row in report_get("consistency").run(workspace_id=beta).rows] == [b01.pk]


@pytest.mark.parametrize("phase", ["legacy", "credits"])
def test_outside_the_dual_phase_the_check_is_skipped_with_a_note(migrated, phase):
    remaining_set("key_a01", 93)
    phase_store(phase)
    output = report_get("consistency").run()
    assert output.findings == 0 and output.summary["checks_skipped"] == 1
    assert f"key_mismatch: skipped: the key credits phase is '{phase}'; keys and accounts are compared only in 'dual'" in output.notes


def test_without_the_legacy_table_the_check_is_skipped_with_a_note():
    phase_store("dual")
    output = report_get("consistency").run()
    assert output.findings == 0 and "key_mismatch: skipped: the legacy table 'keys' does not exist" in output.notes
    assert (output.summary["checks_run"], output.summary["checks_skipped"]) == (3, 1)  # accounts, chain, lots run

