"""A set-based key-credits batch (PostgreSQL) writes what a row-by-row batch writes.

One run migrates two copies of the same keys: the first batch (the ``a_`` copy) as one
statement, then, the setting turned off and the run resumed, the second (``b_``) row by
row. Records, counters, accounts, lots and entries must match, copy for copy.
"""
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.forms.models import model_to_dict

from ledger.actors import Actor
from ledger.models import CreditAccount, Grant, LedgerEntry, OwnerKind
from ledger.services.postings import request_hash
from migrations_ops.models import RunStatus
from migrations_ops.operations import key_credits
from migrations_ops.services import runs

from ..conftest import EDGE_KEYS, keys_table_create, operation_run

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

#: Beyond the edge cases: microseconds in last_refill_at, a quote and an accent in a key id,
#: a refill day without a refill amount (no refill, no day).
MORE_KEYS = [
    ("key_d01", "ws_delta", 3, 15, 30, datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), None),
    ("key_d'é2", "ws_delta", 2, None, None, datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC), None),
    ("key_d03", "ws_delta", 4, 10, None, None, None),
]
KEYS = EDGE_KEYS + MORE_KEYS


def _copy(prefix: str) -> list[tuple]:
    return [(prefix + key, prefix + workspace, *rest) for key, workspace, *rest in KEYS]


def _strip(value, prefix: str):
    """A record's values with the copy's prefix taken off its key and workspace ids."""
    if isinstance(value, str):
        return value.replace(prefix, "")
    if isinstance(value, dict):
        return {name: _strip(item, prefix) for name, item in value.items()}
    return value


def _written(record) -> dict:
    """What a changed record points at (account, lot, entry), without ids and times."""
    new = record.new
    account = model_to_dict(CreditAccount.objects.get(pk=new["account_id"]),
                            exclude=["id", "workspace", "api_key", "created_at", "updated_at"])
    written = {"account": account}
    if new["grant_id"]:
        lot = Grant.objects.get(pk=new["grant_id"])
        entry = LedgerEntry.objects.get(lot_id=lot.pk)
        assert entry.request_hash == request_hash(op="key-credits", key=lot.source_id, amount=lot.amount)
        assert (lot.account_id, entry.account_id) == (new["account_id"], new["account_id"])
        written["lot"] = model_to_dict(lot, exclude=["id", "account", "effective_from", "created_at"])
        written["entry"] = model_to_dict(entry, exclude=["id", "account", "lot", "request_hash", "created_at"])
    return written


def test_set_based_and_row_by_row_batches_write_the_same(db, dual_phase, settings):
    keys_table_create(_copy("a_") + _copy("b_"))
    settings.MIGRATIONS_SET_BASED_BATCHES = True
    done, real = [], key_credits.key_batch_migrate_set_based

    def spy(**kwargs):
        done.append(real(**kwargs))
        return done[-1]

    with mock.patch.object(key_credits, "key_batch_migrate_set_based", spy):
        run = operation_run(batch_size=len(KEYS), max_rows=len(KEYS))
    assert len(done) == 1 and done[0] is not None  # the first batch was one statement
    assert run.status == RunStatus.PAUSED and run.scanned == len(KEYS)
    first = {name: getattr(run, name) for name in ("changed", "skipped", "failed")} | {"totals": dict(run.totals)}

    settings.MIGRATIONS_SET_BASED_BATCHES = False
    run = runs.run_execute(run_id=run.pk, actor=Actor.system("tests"))
    assert run.scanned == 2 * len(KEYS)
    assert {name: getattr(run, name) for name in ("changed", "skipped", "failed")} == {
        name: 2 * first[name] for name in ("changed", "skipped", "failed")
    }
    assert run.totals == {name: 2 * value for name, value in first["totals"].items()}

    records = list(run.records.order_by("pk"))
    assert [r.row_key for r in records] == sorted(r.row_key for r in records)  # the batches' order
    by_copy = {prefix: [r for r in records if r.row_key.startswith(prefix)] for prefix in ("a_", "b_")}
    assert len(by_copy["a_"]) == len(by_copy["b_"]) == len(KEYS)
    for a, b in zip(by_copy["a_"], by_copy["b_"]):
        assert _strip(a.row_key, "a_") == _strip(b.row_key, "b_")
        assert (a.action, _strip(a.message, "a_"), _strip(a.old, "a_")) == (b.action, _strip(b.message, "b_"),
                                                                           _strip(b.old, "b_"))
        assert (a.new is None) == (b.new is None)
        if a.new is not None:
            assert a.new["credits"] == b.new["credits"] and (a.new["grant_id"] is None) == (b.new["grant_id"] is None)
            assert _strip(_written(a), "a_") == _strip(_written(b), "b_")
    assert CreditAccount.objects.filter(owner_kind=OwnerKind.API_KEY).count() == run.changed
