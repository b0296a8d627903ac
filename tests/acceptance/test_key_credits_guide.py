"""The key credits guide (Unkey), walked end to end with our commands.

The guide's legacy ``keys`` table with its own kinds of rows (workspace ``ws_abc123``, keys
with credits, a refill, unlimited keys with NULL credits, a deleted key) plus seeded
volume; then its phases: deploy dual-write (our stored phase), dry run, the migration per
workspace and in full with a batch size, its monitoring queries adapted to our tables,
verify, the status report, the read switch, the emergency sync-back, a rollback and a
re-run. Each outcome asserted is one the guide states. Portable SQL only (SQLite,
PostgreSQL, MySQL/MariaDB).
"""
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from ledger import clock
from ledger.actors import Actor
from ledger.models import AuditEvent, CreditAccount
from ledger.services.refills import accounts_refill_due
from migrations_ops.legacy import KEYS_TABLE, legacy_rows_insert, legacy_seed, legacy_table_drop
from migrations_ops.models import LegacyKey, Run
from migrations_ops.services.key_credits import key_credits_debit, key_credits_get
from migrations_ops.services.key_phase import key_credits_phase

pytestmark = pytest.mark.django_db

WORKSPACE = "ws_abc123"  # the guide's "--workspace" example
#: id, workspace_id, remaining_requests, refill_day, refill_amount, last_refill_at, deleted_at_m
GUIDE_KEYS = [
    ("key_guide_1", WORKSPACE, 1000, None, None, None, None),    # credits, no refill
    ("key_guide_2", WORKSPACE, 250, 1, 500, None, None),        # monthly refill of 500 on the 1st
    ("key_guide_3", WORKSPACE, None, None, None, None, None),   # NULL: unlimited, nothing to move
    ("key_guide_4", WORKSPACE, 40, None, None, None, 1_700_000_000_000),  # deleted_at_m set
    ("key_guide_5", WORKSPACE, 0, None, 100, None, None),       # zero left, daily refill of 100
]
SEEDED = 300


@pytest.fixture
def guide_keys():
    legacy_seed(counts={"keys": SEEDED}, seed=7)
    legacy_rows_insert(KEYS_TABLE, GUIDE_KEYS)
    yield
    legacy_table_drop(KEYS_TABLE)


def manage(*args):
    out = io.StringIO()
    code = 0
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue()


def migrate(*args):
    return json.loads(manage("migrate_credits", *args, "--json")[1].strip().splitlines()[-1])


def sql(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, list(params))
        return cursor.fetchall()


# The guide's monitoring queries, on our tables: its ``credits`` table is our accounts
# owned by API keys (``credits.key_id`` -> the account's API key's external id).
PROGRESS = """
    SELECT (SELECT COUNT(*) FROM keys WHERE remaining_requests IS NOT NULL AND deleted_at_m IS NULL),
           (SELECT COUNT(*) FROM ledger_creditaccount WHERE owner_kind = 'api_key')
"""
MISMATCHES = """
    SELECT k.id, k.remaining_requests, c.balance
      FROM keys k
      JOIN ledger_workspace w ON w.slug = k.workspace_id
      JOIN ledger_apikey a ON a.workspace_id = w.id AND a.external_id = k.id
      LEFT JOIN ledger_creditaccount c ON c.api_key_id = a.id
     WHERE k.deleted_at_m IS NULL AND k.remaining_requests <> c.balance
"""
RECENT = "SELECT id FROM ledger_creditaccount WHERE updated_at > %s ORDER BY updated_at DESC LIMIT 10"


def eligible():
    return LegacyKey.objects.filter(deleted_at_m__isnull=True, remaining_requests__isnull=False)


def test_the_key_credits_guide_end_to_end(guide_keys):
    actor = Actor.system("guide")
    # Phase 1: the dual-write code is deployed; the phase every process reads says so.
    assert manage("key_credits_phase", "dual", "--reason", "v1 deployed in all regions", "--yes")[0] == 0
    assert key_credits_phase() == "dual"

    # Phase 2, "--dry-run": a preview that changes nothing.
    dry = migrate("key-credits")
    assert dry["dry_run"] is True and dry["changed"] == eligible().count()
    assert not CreditAccount.objects.exists()

    # "Migrate specific workspace ... --batch-size=500", then everything "--batch-size=1000".
    first = migrate("key-credits", "--execute", "--yes", "--workspace", WORKSPACE, "--batch-size", "500")
    assert (first["status"], first["changed"], first["scanned"]) == ("succeeded", 3, len(GUIDE_KEYS))
    full = migrate("key-credits", "--execute", "--yes", "--batch-size", "1000")
    assert full["status"] == "succeeded" and full["changed"] == eligible().count() - 3

    # Monitoring 1, migration progress: every key with credits has its credits row.
    keys_with_credits, migrated_credits = sql(PROGRESS)[0]
    assert keys_with_credits == migrated_credits == eligible().count()
    # Monitoring 2, data consistency: no mismatches between the tables.
    assert sql(MISMATCHES) == []
    # Monitoring 3, recent credit updates: the migrated rows, newest first.
    assert len(sql(RECENT, [clock.now() - timedelta(hours=1)])) == 10
    # Null handling: unlimited and deleted keys have no credits row; zero has one at 0.
    assert not CreditAccount.objects.filter(api_key__external_id__in=["key_guide_3", "key_guide_4"]).exists()
    assert CreditAccount.objects.get(api_key__external_id="key_guide_5").balance == 0

    # "Idempotent execution (safe to run multiple times)".
    again = migrate("key-credits", "--execute", "--yes")
    assert again["changed"] == 0 and again["skipped"] == again["scanned"]
    code, out = manage("migrate_credits", "--verify", str(full["run_id"]))
    assert code == 0 and "verified" in out
    code, out = manage("credits_report", "migration-status", "--json")
    status = next(row for row in json.loads(out)["rows"] if row[0] == "key-credits")
    assert code == 0 and status[1:3] == [eligible().count(), 0]

    # While dual, every write lands in both places in one transaction.
    key_credits_debit(key_id="key_guide_1", amount=100, actor=actor, idempotency_key="req-1")
    key_credits_debit(key_id="key_guide_1", amount=100, actor=actor, idempotency_key="req-1")
    accounts_refill_due(actor=actor, at=clock.now().replace(day=1) + timedelta(days=32))
    assert sql(MISMATCHES) == []
    assert key_credits_get(key_id="key_guide_1").remaining == 900
    assert (LegacyKey.objects.get(pk="key_guide_2").remaining_requests, key_credits_get(key_id="key_guide_2").remaining) == (500, 500)
    assert manage("credits_report", "consistency")[0] == 0

    # Phase 3, read switch: credits only; keys.remaining_requests is no longer written.
    manage("key_credits_phase", "credits", "--reason", "v2 deployed", "--yes")
    assert key_credits_debit(key_id="key_guide_1", amount=50, actor=actor).remaining == 850
    assert sql(MISMATCHES) == [("key_guide_1", 900, 850)]

    # Rollback plan 3, the emergency sync of credits back to keys.
    sync = migrate("key-credits-sync-back", "--execute", "--yes")
    assert sync["changed"] == 1 and sql(MISMATCHES) == []

    # Rollback plan 2: back to v1 reading the keys table; our rollback says it did so.
    rolled = migrate("--rollback", str(full["run_id"]), "--yes", "--settle", "keep")
    assert rolled["status"] == "rolled_back" and rolled["rollback"]["phase_to_legacy"] == 1
    assert key_credits_phase() == "legacy"
    assert AuditEvent.objects.filter(action="key_credits.phase_change", details__to="legacy").exists()
    # Keys keep working from the keys table.
    assert key_credits_debit(key_id="key_guide_1", amount=10, actor=actor).remaining == 840
    first_rolled = migrate("--rollback", str(first["run_id"]), "--yes", "--settle", "keep")
    assert first_rolled["status"] == "rolled_back" and first_rolled["rollback"]["phase_to_legacy"] == 0
    # Nothing is left on the accounts: the keys table holds every credit again.
    assert not CreditAccount.objects.exclude(balance=0).exists()

    # Re-run after the rollback: dual again, migrate again, consistent again.
    manage("key_credits_phase", "dual", "--reason", "retry", "--yes")
    rerun = migrate("key-credits", "--execute", "--yes")
    # (keys at 0 with no refill policy have nothing to move again: "already migrated")
    assert rerun["status"] == "succeeded"
    assert rerun["changed"] + rerun["totals"].get("skipped_migrated", 0) == eligible().count()
    assert sql(MISMATCHES) == [] and key_credits_get(key_id="key_guide_1").remaining == 840
    assert Run.objects.filter(operation="key-credits", dry_run=False).count() == 4  # ws, full, again, re-run
