"""The key-credits check of the ledger's consistency report, registered by this app (the
ledger knows nothing of legacy tables): live API keys whose ``keys.remaining_requests``
differs from their account's balance.

In the ``dual`` phase every write on a migrated key writes both places in one transaction,
so any difference is a fault. The phase is the stored setting, which the report's process
reads like any other; wherever the keys table exists the check runs in ``dual``, and in the
other phases (where the two places are not meant to agree) the report says so in its notes.
"""
from __future__ import annotations

from ledger.models import Workspace
from ledger.reports.consistency import CheckSkipped, consistency_check

from .legacy import legacy_table_exists
from .models import KeyCreditsPhase, LegacyKey
from .selectors import key_credit_mismatches
from .services.key_phase import key_credits_phase


@consistency_check("key_mismatch", "An API key's legacy remaining_requests differs from its account balance", order=40)
def key_mismatch_check(*, workspace_id: int | None, limit: int | None) -> list[list]:
    """Compare keys and accounts (keys not migrated yet are not mismatches); rows
    ``[key_mismatch, account, workspace, key, balance, remaining]``."""
    table = LegacyKey._meta.db_table
    if not legacy_table_exists(table):
        raise CheckSkipped(f"the legacy table {table!r} does not exist")
    phase = key_credits_phase()
    if phase != KeyCreditsPhase.DUAL:
        raise CheckSkipped(f"the key credits phase is {phase!r}; keys and accounts are compared only in 'dual'")
    slug = None
    if workspace_id is not None:
        slug = Workspace.objects.filter(pk=workspace_id).values_list("slug", flat=True).first()
        if slug is None:
            return []
    return [
        ["key_mismatch", found.account_id, found.workspace_id, f"key {found.key_id}", found.balance,
         found.remaining_requests]
        for found in key_credit_mismatches(workspace=slug, limit=limit)
    ]
