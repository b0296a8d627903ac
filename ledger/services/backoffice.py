"""Staff actions from the back office: each one is a ledger service plus its audit event,
committed together. The ledger entry names the staff user as its actor; the audit event
keeps the reason and what was asked, for the audit page."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from ..actors import Actor
from ..amounts import amount_parse
from ..exceptions import InvalidInput
from ..models import AuditEvent
from .adjustments import AdjustmentResult, adjustment_create
from .composition import service_body
from .debits import RefundResult, refund_create
from .grant_requests import GrantRequestResult, grant_limit_applies, grant_request_create
from .grants import EXPIRY_FROM_POLICY, GrantResult, VoidResult, grant_create, grant_void
from .policies import policy_update
from .usage import UsageResult, hold_release, task_charge


def _audit(*, action: str, actor: Actor, object_type: str, object_id: object, reason: str, details: dict) -> None:
    AuditEvent.objects.create(
        action=action, actor=actor.label, actor_user_id=actor.user_id, object_type=object_type,
        object_id=str(object_id), reason=reason, details=details,
    )


@transaction.atomic(durable=True)
def staff_grant(
    *,
    account_id: int,
    amount: object,
    kind: str,
    reason: str,
    actor: Actor,
    idempotency_key: str,
    priority: int = 50,
    expires_at: object = EXPIRY_FROM_POLICY,
) -> GrantResult:
    """Grant credits by hand with a reason, once per key, with an audit event."""
    if not reason.strip():
        raise InvalidInput("reason", "is required for a grant made by staff")
    result = service_body(grant_create)(
        account_id=account_id, amount=amount, kind=kind, reason=reason, actor=actor,
        idempotency_key=idempotency_key, priority=priority, expires_at=expires_at,
    )
    if not result.replayed:
        _audit(action="grant.create", actor=actor, object_type="account", object_id=account_id, reason=reason,
               details={"grant": result.grant.pk, "entry": result.entry.pk, "amount": result.grant.amount,
                        "kind": kind, "expires_at": str(result.grant.expires_at or "never")})
    return result


@dataclass(frozen=True)
class GrantSubmission:
    """What a staff grant turned into: a grant, or a request waiting for approval."""

    grant: GrantResult | None = None
    request: GrantRequestResult | None = None


def staff_grant_submit(
    *,
    account_id: int,
    amount: object,
    kind: str,
    reason: str,
    actor: Actor,
    idempotency_key: str,
    priority: int = 50,
    expires_at: object = EXPIRY_FROM_POLICY,
) -> GrantSubmission:
    """Grant now, or, above the Support limit for an actor who cannot approve, record a
    pending grant request instead (four-eyes). Each is one durable transaction."""
    params = dict(account_id=account_id, kind=kind, reason=reason, actor=actor,
                  idempotency_key=idempotency_key, priority=priority, expires_at=expires_at)
    credits = amount_parse(amount)
    if grant_limit_applies(actor=actor, amount=credits):
        return GrantSubmission(request=grant_request_create(amount=credits, **params))
    return GrantSubmission(grant=staff_grant(amount=credits, **params))


@transaction.atomic(durable=True)
def staff_void(*, grant_id: int, account_id: int, reason: str, actor: Actor, idempotency_key: str) -> VoidResult:
    """Void what is left of a grant, with an audit event."""
    result = service_body(grant_void)(
        grant_id=grant_id, account_id=account_id, reason=reason, actor=actor, idempotency_key=idempotency_key
    )
    if not result.replayed:
        _audit(action="grant.void", actor=actor, object_type="account", object_id=account_id, reason=reason,
               details={"grant": grant_id, "voided": -result.entry.amount if result.entry else 0})
    return result


@transaction.atomic(durable=True)
def staff_refund(
    *, entry_id: int, account_id: int, amount: object, reason: str, actor: Actor, idempotency_key: str
) -> RefundResult:
    """Refund all or part of a debit into the lots it came from, with an audit event."""
    result = service_body(refund_create)(
        debit_entry_id=entry_id, account_id=account_id, amount=amount, reason=reason, actor=actor,
        idempotency_key=idempotency_key,
    )
    if not result.replayed:
        _audit(action="debit.refund", actor=actor, object_type="account", object_id=account_id, reason=reason,
               details={"debit": entry_id, "entry": result.entry.pk, "amount": result.entry.amount})
    return result


@transaction.atomic(durable=True)
def staff_adjust(
    *, account_id: int, amount: object, reason: str, actor: Actor, idempotency_key: str,
    expires_at: datetime | None = None,
) -> AdjustmentResult:
    """Adjust the balance by a signed amount with a reason, with an audit event."""
    result = service_body(adjustment_create)(
        account_id=account_id, amount=amount, reason=reason, actor=actor, idempotency_key=idempotency_key,
        expires_at=expires_at,
    )
    if not result.replayed:
        _audit(action="account.adjust", actor=actor, object_type="account", object_id=account_id, reason=reason,
               details={"entry": result.entry.pk, "amount": result.entry.amount})
    return result


@transaction.atomic(durable=True)
def staff_policy_update(*, workspace_id: int, changes: dict, reason: str, actor: Actor) -> list:
    """Change a workspace's policy overrides (PolicyChange rows) with an audit event."""
    recorded = service_body(policy_update)(workspace_id=workspace_id, changes=changes, reason=reason, actor=actor)
    if recorded:
        _audit(action="policy.update", actor=actor, object_type="workspace", object_id=workspace_id, reason=reason,
               details={c.field: [c.old_value or "default", c.new_value or "default"] for c in recorded})
    return recorded


def _reason_required(reason: str, what: str) -> None:
    if not reason.strip():
        raise InvalidInput("reason", f"is required to {what}")


def _task_details(task) -> dict:
    return {"account": task.account_id, "status": task.status, "credits_calculated": task.credits_calculated,
            "charge_entry": task.charge_entry_id, "shortfall": task.shortfall, "hold_amount": task.hold_amount}


@transaction.atomic(durable=True)
def staff_task_charge(*, task_id: int, reason: str, actor: Actor) -> UsageResult:
    """Charge a succeeded, never-charged task now (a lost callback), exactly once, with an
    audit event; any other task is returned unchanged (``replayed``) and nothing is written."""
    _reason_required(reason, "charge a task by hand")
    result = service_body(task_charge)(task_id=task_id, actor=actor)
    if not result.replayed:
        _audit(action="usage.charge", actor=actor, object_type="usage_task", object_id=task_id, reason=reason,
               details=_task_details(result.task))
    return result


@transaction.atomic(durable=True)
def staff_hold_release(*, task_id: int, reason: str, actor: Actor) -> UsageResult:
    """Release a task's hold now, before its timeout, with an audit event; a task without
    an active hold is returned unchanged (``replayed``) and nothing is written. The task
    itself is not changed: if it succeeds later, its price is charged from the balance."""
    _reason_required(reason, "release a hold by hand")
    result = service_body(hold_release)(task_id=task_id, actor=actor, why="released by staff", before_timeout=True)
    if not result.replayed:
        _audit(action="usage.hold_release", actor=actor, object_type="usage_task", object_id=task_id,
               reason=reason, details=_task_details(result.task))
    return result
