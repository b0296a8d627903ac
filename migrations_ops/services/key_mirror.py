"""The dual phase's other half for every ledger write: the legacy keys of API key accounts.

Registered in ``MigrationsOpsConfig.ready()`` as the ledger's write hook for API key
accounts (``ledger.services.hooks``), so a grant, debit, refund, void, adjustment, refill,
usage charge or expiry on a migrated key's account, from the REST API, the admin, a task or
a job, also writes the key's ``remaining_requests`` (the account's balance) and
``last_refill_at``, in the same transaction. Only in the ``dual`` phase: in ``legacy`` the
keys table alone is the truth, in ``credits`` it is no longer written.
"""
from __future__ import annotations

from django.db.models import Exists, OuterRef, Subquery

from ledger.models import ApiKey, CreditAccount, OwnerKind

from ..legacy import legacy_table_exists
from ..models import KeyCreditsPhase, LegacyKey
from .key_phase import key_credits_phase


def keys_mirror(account_ids: list[int]) -> None:
    """In the dual phase, write the accounts' balance and refill stamp into their live
    legacy keys (one UPDATE), in the caller's transaction."""
    if key_credits_phase() != KeyCreditsPhase.DUAL or not legacy_table_exists(LegacyKey._meta.db_table):
        return
    accounts = CreditAccount.objects.filter(
        pk__in=account_ids, owner_kind=OwnerKind.API_KEY,
        api_key__external_id=OuterRef("pk"), api_key__workspace__slug=OuterRef("workspace_id"),
    )
    external_ids = ApiKey.objects.filter(account__pk__in=account_ids).values("external_id")
    LegacyKey.objects.filter(pk__in=external_ids, deleted_at_m__isnull=True).filter(Exists(accounts)).update(
        remaining_requests=Subquery(accounts.values("balance")[:1]),
        last_refill_at=Subquery(accounts.values("last_refill_at")[:1]),
    )
