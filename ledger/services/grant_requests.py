"""Grant requests (four-eyes): a grant above the Support limit waits for approval.

The person who approves must hold ``ledger.approve_grant_requests`` and must not be the
requester; approving makes the grant (through ``grant_create``) in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from .. import clock
from ..actors import Actor
from ..amounts import amount_parse
from ..exceptions import IdempotencyConflict, InvalidInput, InvalidState, NotAllowed, NotFound
from ..models import AuditEvent, GrantRequest, GrantRequestStatus
from .composition import service_body
from .grants import EXPIRY_FROM_POLICY, GrantResult, grant_create, grant_validate
from .postings import account_lock

APPROVE_PERMISSION = "ledger.approve_grant_requests"


def grant_limit_applies(*, actor: Actor, amount: int) -> bool:
    """Return True when ``actor`` may not grant ``amount`` alone: it is above
    settings.CREDITS_SUPPORT_GRANT_LIMIT and the actor cannot approve requests."""
    if amount <= settings.CREDITS_SUPPORT_GRANT_LIMIT:
        return False
    return actor.user is None or not actor.user.has_perm(APPROVE_PERMISSION)


def _audit(*, action: str, request: GrantRequest, actor: Actor, reason: str, details: dict) -> None:
    AuditEvent.objects.create(
        action=action, actor=actor.label, actor_user_id=actor.user_id, object_type="grant_request",
        object_id=str(request.pk), reason=reason, details={"account": request.account_id, **details},
    )


@dataclass(frozen=True)
class GrantRequestResult:
    request: GrantRequest
    replayed: bool


@transaction.atomic(durable=True)
def grant_request_create(
    *,
    account_id: int,
    amount: object,
    kind: str,
    reason: str,
    actor: Actor,
    idempotency_key: str,
    priority: int = 50,
    expires_at: object = EXPIRY_FROM_POLICY,
) -> GrantRequestResult:
    """Record a pending grant request once per idempotency key; nothing is granted yet."""
    credits = amount_parse(amount)
    if not reason.strip():
        raise InvalidInput("reason", "is required for a grant request")
    if actor.user_id is None:
        raise NotAllowed("grant requests are made by staff users", field="actor")
    from_policy = expires_at is EXPIRY_FROM_POLICY
    expiry = None if from_policy else expires_at
    grant_validate(kind=kind, priority=priority, effective_from=clock.now(), expires_at=expiry, reason=reason)
    account = account_lock(account_id=account_id)
    params = {
        "account_id": account.pk, "amount": credits, "kind": kind, "priority": priority,
        "expires_at": expiry, "expiry_from_policy": from_policy, "reason": reason,
    }
    previous = GrantRequest.objects.filter(idempotency_key=idempotency_key).first()
    if previous is not None:
        if any(getattr(previous, name) != value for name, value in params.items()):
            raise IdempotencyConflict(idempotency_key)
        return GrantRequestResult(request=previous, replayed=True)
    request = GrantRequest.objects.create(
        **params, requested_by_id=actor.user_id, idempotency_key=idempotency_key
    )
    _audit(action="grant_request.create", request=request, actor=actor, reason=reason,
           details={"amount": credits, "kind": kind})
    return GrantRequestResult(request=request, replayed=False)


def _pending_lock(*, request_id: int, actor: Actor) -> GrantRequest:
    """Lock the account then the request; check the four-eyes rule."""
    account_id = GrantRequest.objects.filter(pk=request_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(f"grant request {request_id!r} does not exist", field="request")
    account_lock(account_id=account_id)
    request = GrantRequest.objects.select_for_update().get(pk=request_id)
    if actor.user is None or not actor.user.has_perm(APPROVE_PERMISSION):
        raise NotAllowed("deciding grant requests needs the approve_grant_requests permission", field="actor")
    if actor.user_id == request.requested_by_id:
        raise NotAllowed("a grant request must be decided by someone other than its requester", field="actor")
    return request


def _decide(request: GrantRequest, *, status: str, actor: Actor, reason: str) -> None:
    request.status = status
    request.decided_by_id = actor.user_id
    request.decided_at = clock.now()
    request.decision_reason = reason
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason", "grant"])


@transaction.atomic(durable=True)
def grant_request_approve(*, request_id: int, actor: Actor, reason: str = "") -> GrantResult:
    """Approve a pending request and make its grant, exactly once: approving an approved
    request returns its grant and writes nothing; a rejected one cannot be approved."""
    request = _pending_lock(request_id=request_id, actor=actor)
    if request.status == GrantRequestStatus.APPROVED:
        entry = request.grant.entries.order_by("id").first()
        return GrantResult(grant=request.grant, entry=entry, replayed=True)
    if request.status != GrantRequestStatus.PENDING:
        raise InvalidState(f"grant request {request.pk} is {request.status}", field="request")
    result = service_body(grant_create)(
        account_id=request.account_id, amount=request.amount, kind=request.kind, actor=actor,
        idempotency_key=f"grant-request:{request.pk}", reason=request.reason, priority=request.priority,
        expires_at=EXPIRY_FROM_POLICY if request.expiry_from_policy else request.expires_at,
        source="grant_request", source_id=str(request.pk),
        description=f"{request.reason} (request #{request.pk}, approved)",
    )
    request.grant = result.grant
    _decide(request, status=GrantRequestStatus.APPROVED, actor=actor, reason=reason)
    _audit(action="grant_request.approve", request=request, actor=actor, reason=reason or request.reason,
           details={"grant": result.grant.pk, "amount": request.amount, "requested_by": request.requested_by_id})
    return result


@transaction.atomic(durable=True)
def grant_request_reject(*, request_id: int, actor: Actor, reason: str) -> GrantRequest:
    """Reject a pending request with a reason; nothing is granted."""
    if not reason.strip():
        raise InvalidInput("reason", "is required to reject a grant request")
    request = _pending_lock(request_id=request_id, actor=actor)
    if request.status != GrantRequestStatus.PENDING:
        raise InvalidState(f"grant request {request.pk} is {request.status}", field="request")
    _decide(request, status=GrantRequestStatus.REJECTED, actor=actor, reason=reason)
    _audit(action="grant_request.reject", request=request, actor=actor, reason=reason,
           details={"amount": request.amount, "requested_by": request.requested_by_id})
    return request

