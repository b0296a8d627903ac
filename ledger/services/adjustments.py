"""Manual adjustments: a staff correction in either direction, always with a reason."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from ..actors import Actor
from ..amounts import amount_parse
from ..exceptions import InvalidInput
from ..models import EntryType, Grant, GrantKind, LedgerEntry
from .debits import debit_apply
from .grants import grant_apply
from .postings import Posting, account_lock, entry_replay, request_hash


@dataclass(frozen=True)
class AdjustmentResult:
    entry: LedgerEntry
    grant: Grant | None
    replayed: bool


@transaction.atomic(durable=True)
def adjustment_create(
    *,
    account_id: int,
    amount: object,
    reason: str,
    actor: Actor,
    idempotency_key: str | None,
    expires_at: datetime | None = None,
    workspace_id: int | None = None,
) -> AdjustmentResult:
    """Adjust the balance by a signed amount once per key: a positive one adds a lot (never
    expiring unless ``expires_at``), a negative one draws lots like a debit and respects the
    overdraft limit."""
    credits = amount_parse(amount, allow_negative=True)
    if not reason.strip():
        raise InvalidInput("reason", "is required for an adjustment")
    account = account_lock(account_id=account_id, workspace_id=workspace_id)
    fingerprint = request_hash(op="adjustment", amount=credits, expires_at=expires_at)
    previous = entry_replay(account=account, key=idempotency_key, fingerprint=fingerprint)
    if previous is not None:
        return AdjustmentResult(entry=previous, grant=previous.lot, replayed=True)
    posting = Posting(
        actor=actor, description=f"Adjustment: {reason}", idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    if credits > 0:
        lot, entry = grant_apply(
            account=account, amount=credits, kind=GrantKind.ADJUSTMENT, posting=posting,
            entry_type=EntryType.ADJUSTMENT, expires_at=expires_at, reason=reason,
        )
        return AdjustmentResult(entry=entry, grant=lot, replayed=False)
    entry, _ = debit_apply(account=account, amount=-credits, posting=posting, entry_type=EntryType.ADJUSTMENT)
    return AdjustmentResult(entry=entry, grant=None, replayed=False)
