"""Product users: signing one up opens their account with the initial credits."""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from .. import clock
from ..actors import Actor
from ..exceptions import InvalidInput
from ..models import CreditAccount, Customer, GrantKind, OwnerKind
from ..selectors.policies import policy_get
from .accounts import account_open
from .grants import EXPIRY_FROM_POLICY, grant_apply, grant_expiry_resolve
from .postings import Posting, account_lock


@dataclass(frozen=True)
class Signup:
    customer: Customer
    account: CreditAccount
    created: bool


@transaction.atomic(durable=True)
def customer_signup(*, workspace_id: int, external_id: str, email: str, actor: Actor) -> Signup:
    """Create the product user and their account with the policy's initial credits, once:
    signing up the same external id again returns the existing user and grants nothing."""
    if not str(external_id).strip():
        raise InvalidInput("external_id", "is required")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput("email", "must be a valid email address") from None
    customer, created = Customer.objects.get_or_create(
        workspace_id=workspace_id, external_id=str(external_id), defaults={"email": email}
    )
    opened = account_open(workspace_id=workspace_id, owner_kind=OwnerKind.CUSTOMER, owner_id=customer.pk)
    account = account_lock(account_id=opened.pk)
    initial = policy_get(workspace_id=workspace_id).initial_credits
    if created and initial:
        now = clock.now()
        posting = Posting(actor=actor, description="Signup credits", source="signup",
                          source_id=str(customer.pk), idempotency_key=f"signup:{customer.pk}")
        grant_apply(
            account=account, amount=initial, kind=GrantKind.SIGNUP, posting=posting,
            effective_from=now,
            expires_at=grant_expiry_resolve(account=account, effective_from=now, expires_at=EXPIRY_FROM_POLICY),
        )
    return Signup(customer=customer, account=account, created=created)
