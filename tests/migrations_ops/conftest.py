"""Fixtures: the legacy keys table with every edge case, and a helper to run operations."""
from datetime import UTC, datetime

import pytest
from django.db import connection

from ledger.actors import Actor
from migrations_ops.legacy import KEYS_TABLE, legacy_rows_insert, legacy_table_create, legacy_table_drop
from migrations_ops.models import KeyCreditsSetting
from migrations_ops.services import runs

LAST_REFILL = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DELETED_MS = 1_700_000_000_000

#: id, workspace_id, remaining_requests, refill_day, refill_amount, last_refill_at, deleted_at_m
EDGE_KEYS = [
    ("key_a01", "ws_alpha", 100, None, None, None, None),           # plain
    ("key_a02", "ws_alpha", 0, 31, 500, LAST_REFILL, None),         # zero, monthly refill on the 31st
    ("key_a03", "ws_alpha", None, None, None, None, None),          # unlimited: skipped
    ("key_a04", "ws_alpha", 50, None, None, None, DELETED_MS),      # deleted: skipped
    ("key_a05", "ws_alpha", 10**12, None, 1000, LAST_REFILL, None), # large, daily refill
    ("key_a06", "ws_alpha", -5, None, None, None, None),            # negative: failed
    ("key_a07", "ws_alpha", 10, 40, 100, None, None),               # refill day 40: failed
    ("key_b01", "ws_beta", 7, 1, 70, None, None),                   # monthly on the 1st, never refilled
    ("key_b02", "ws_beta", 10**15 + 1, None, None, None, None),     # above the ledger maximum: failed
    ("key_b03", "ws_beta", 1, None, 0, None, None),                 # refill amount 0 (daily)
    ("key_c01", "bad workspace!", 5, None, None, None, None),       # not a slug: failed
    ("key_c02", "ws_gamma", None, None, None, None, DELETED_MS),    # deleted and unlimited
]
#: remaining of the keys key-credits migrates, by id
MIGRATED = {"key_a01": 100, "key_a02": 0, "key_a05": 10**12, "key_b01": 7, "key_b03": 1}
FAILED = {"key_a06", "key_a07", "key_b02", "key_c01"}


def keys_table_create(rows=EDGE_KEYS):
    legacy_table_create(KEYS_TABLE)
    legacy_rows_insert(KEYS_TABLE, list(rows))


@pytest.fixture
def legacy_keys(db):
    keys_table_create()
    yield EDGE_KEYS
    legacy_table_drop(KEYS_TABLE)


@pytest.fixture
def legacy_keys_tx(transactional_db):
    keys_table_create()
    yield EDGE_KEYS
    legacy_table_drop(KEYS_TABLE)


#: How key-credits batches can run here: one set-based statement (PostgreSQL only) or row
#: by row. Tests that take ``batch_path`` run through each.
BATCH_PATHS = ["set-based", "row-by-row"] if connection.vendor == "postgresql" else ["row-by-row"]


@pytest.fixture(params=BATCH_PATHS)
def batch_path(request, settings):
    """Run the test with key-credits batches on each path (MIGRATIONS_SET_BASED_BATCHES)."""
    settings.MIGRATIONS_SET_BASED_BATCHES = request.param == "set-based"
    return request.param


def phase_store(phase):
    """Store the key-credits phase as a test's precondition (the service, audited, is
    tested on its own)."""
    KeyCreditsSetting.objects.update_or_create(pk=1, defaults={"phase": phase})


@pytest.fixture
def dual_phase():
    phase_store("dual")


def operation_run(operation="key-credits", *, params=None, dry_run=False, force=False, batch_size=3,
                  actor=None, plan_id=None, max_rows=None, read_alias="default"):
    """Start and execute a run through the services, as the command does."""
    actor = actor or Actor.system("tests")
    preview = runs.run_preview(operation=operation, params=params or {}, execute=not dry_run, force=force,
                               read_alias=read_alias)
    run = runs.run_create(preview=preview, actor=actor, dry_run=dry_run, force=force, plan_id=plan_id,
                          options=runs.options_clean(batch_size=batch_size, max_rows=max_rows))
    return runs.run_execute(run_id=run.pk, actor=actor, read_alias=read_alias)
