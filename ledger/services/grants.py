"""Granting credits into lots, and voiding what is left of a grant."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from .. import clock
from ..actors import Actor
from ..amounts import amount_parse
from ..exceptions import InvalidInput, InvalidState
from ..models import CreditAccount, EntryType, Grant, GrantKind, LedgerEntry
from ..selectors.policies import policy_get
from .postings import (
    Posting,
    account_lock,
    debt_settle,
    entry_append,
    entry_replay,
    owned_row_lock,
    request_hash,
)


class _PolicyExpiry:
    def __repr__(self) -> str:
        return "EXPIRY_FROM_POLICY"


#: Default for ``expires_at``: the workspace policy's months after ``effective_from``.
EXPIRY_FROM_POLICY = _PolicyExpiry()

#: Kinds a person grants by hand; they must say why.
KINDS_NEEDING_REASON = {GrantKind.MANUAL, GrantKind.ADJUSTMENT}
#: GrantKind.values builds a new list on every access; bulk openings validate thousands.
_KINDS = frozenset(GrantKind.values)


@dataclass(frozen=True)
class GrantResult:
    grant: Grant
    entry: LedgerEntry
    replayed: bool


def grant_expiry_resolve(
    *, account: CreditAccount, effective_from: datetime, expires_at: object
) -> datetime | None:
    """Return the expiry a grant gets: the given one, or the workspace policy's."""
    if expires_at is not EXPIRY_FROM_POLICY:
        return expires_at  # type: ignore[return-value]
    months = policy_get(workspace_id=account.workspace_id).expiry_months
    return clock.add_months(effective_from, months) if months else None


def grant_validate(
    *, kind: str, priority: int, effective_from: datetime, expires_at: datetime | None, reason: str
) -> None:
    """Raise InvalidInput naming the field when a grant's parameters break a rule."""
    if kind not in _KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(GrantKind.values)}")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
        raise InvalidInput("priority", "must be a whole number from 0 to 100")
    if expires_at is not None and expires_at <= effective_from:
        raise InvalidInput("expires_at", "must be after effective_from")
    if kind in KINDS_NEEDING_REASON and not reason.strip():
        raise InvalidInput("reason", "is required for manual grants and adjustments")


def grant_apply(
    *,
    account: CreditAccount,
    amount: int,
    kind: str,
    posting: Posting,
    entry_type: str = EntryType.GRANT,
    priority: int = 50,
    effective_from: datetime | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
) -> tuple[Grant, LedgerEntry]:
    """Create a lot and its entry on a locked account; any debt is paid from the lot first."""
    lot = Grant(
        account=account,
        kind=kind,
        amount=amount,
        remaining=amount,
        priority=priority,
        effective_from=effective_from or clock.now(),
        expires_at=expires_at,
        reason=reason,
        created_by_id=posting.actor.user_id,
        actor=posting.actor.label,
        idempotency_key=posting.idempotency_key,
        source=posting.source,
        source_id=posting.source_id,
    )
    debt_settle(account=account, lot=lot)
    lot.save()
    entry = entry_append(account=account, entry_type=entry_type, amount=amount, posting=posting, lot=lot)
    return lot, entry


@transaction.atomic(durable=True)
def grant_create(
    *,
    account_id: int,
    amount: object,
    kind: str,
    actor: Actor,
    idempotency_key: str | None,
    reason: str = "",
    priority: int = 50,
    effective_from: datetime | None = None,
    expires_at: object = EXPIRY_FROM_POLICY,
    workspace_id: int | None = None,
    source: str = "",
    source_id: str = "",
    description: str = "",
) -> GrantResult:
    """Grant credits as a new lot, exactly once per idempotency key.

    The lot expires by the workspace policy unless ``expires_at`` is given (None: never).
    """
    credits = amount_parse(amount)
    account = account_lock(account_id=account_id, workspace_id=workspace_id)
    effective = effective_from or clock.now()
    expiry = grant_expiry_resolve(account=account, effective_from=effective, expires_at=expires_at)
    grant_validate(kind=kind, priority=priority, effective_from=effective, expires_at=expiry, reason=reason)
    fingerprint = request_hash(
        op="grant", amount=credits, kind=kind, priority=priority, expires_at=expiry if expires_at is not EXPIRY_FROM_POLICY else "policy",
        effective_from=effective_from, source=source, source_id=source_id,
    )
    previous = entry_replay(account=account, key=idempotency_key, fingerprint=fingerprint)
    if previous is not None:
        return GrantResult(grant=previous.lot, entry=previous, replayed=True)
    posting = Posting(
        actor=actor,
        description=description or reason or f"{GrantKind(kind).label} grant",
        source=source,
        source_id=source_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    lot, entry = grant_apply(
        account=account, amount=credits, kind=kind, posting=posting, priority=priority,
        effective_from=effective, expires_at=expiry, reason=reason,
    )
    return GrantResult(grant=lot, entry=entry, replayed=False)


@dataclass(frozen=True)
class VoidResult:
    grant: Grant
    entry: LedgerEntry | None
    replayed: bool


@transaction.atomic(durable=True)
def grant_void(
    *,
    grant_id: int,
    actor: Actor,
    reason: str,
    idempotency_key: str | None,
    account_id: int | None = None,
    workspace_id: int | None = None,
) -> VoidResult:
    """Void what is left of a grant, with an entry for the unspent remainder.

    Voiding an already voided grant returns the first void and writes nothing.
    """
    if not reason.strip():
        raise InvalidInput("reason", "is required to void a grant")
    account, grant = owned_row_lock(
        model=Grant, pk=grant_id, label="grant", account_id=account_id, workspace_id=workspace_id
    )
    fingerprint = request_hash(op="void", grant=grant.pk)
    previous = entry_replay(account=account, key=idempotency_key, fingerprint=fingerprint)
    if grant.voided_at is not None:
        earlier = previous or LedgerEntry.objects.filter(lot=grant, entry_type=EntryType.VOID).first()
        return VoidResult(grant=grant, entry=earlier, replayed=True)
    if grant.expired_at is not None:
        raise InvalidState(f"grant {grant.pk} has expired; there is nothing left to void", field="grant")
    from .bulk import lots_void  # bulk builds on this module (grant_validate): imported here, not above

    lots_void(idempotency_keys={grant.pk: idempotency_key}, actor=actor, reason=reason)
    grant.refresh_from_db()
    entry = LedgerEntry.objects.filter(lot=grant, entry_type=EntryType.VOID).first()
    return VoidResult(grant=grant, entry=entry, replayed=False)

