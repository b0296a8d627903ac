"""A consistency check for the key-credits dual-write phase: live API keys whose legacy
``keys.remaining_requests`` differs from their ledger account's balance.

In the ``dual`` phase every debit and refill writes both places in one transaction, so any
difference is a fault. In the other phases, or before the legacy table exists, the check
does not apply and the report says so in its notes.
"""
from __future__ import annotations

from ..exceptions import LedgerError
from ..models import Workspace
from .consistency import CheckSkipped, consistency_check


def _phase() -> str:
    from migrations_ops.services.key_credits import key_credits_phase

    try:
        return key_credits_phase()
    except LedgerError as error:
        raise CheckSkipped(error.message) from None


@consistency_check("key_mismatch", "An API key's legacy remaining_requests differs from its account balance", order=40)
def key_mismatch_check(*, workspace_id: int | None, limit: int | None) -> list[list]:
    """Compare keys and accounts with migrations_ops' own selector (keys not migrated yet
    are not mismatches); rows ``[key_mismatch, account, workspace, key, balance, remaining]``."""
    from migrations_ops.legacy import legacy_table_exists
    from migrations_ops.models import LegacyKey
    from migrations_ops.selectors import key_credit_mismatches

    phase = _phase()
    if phase != "dual":
        raise CheckSkipped(f"KEY_CREDITS_PHASE is {phase!r}; keys and accounts are compared only in 'dual'")
    table = LegacyKey._meta.db_table
    if not legacy_table_exists(table):
        raise CheckSkipped(f"the legacy table {table!r} does not exist")
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
