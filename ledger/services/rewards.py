"""Rewards for product users: invite, daily sign-in and share, each idempotent by
construction (its key derives from the user, the kind and the day or the object).

The product user is named by id, or (for the API) by their account: ``account_id`` with
``workspace_id``, where an account of another workspace is AccountNotFound and one that
is not a product user's is InvalidState."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from .. import clock
from ..actors import Actor
from ..exceptions import AccountNotFound, InvalidInput, InvalidState, NotFound
from ..models import CreditAccount, Customer, Grant, GrantKind, LedgerEntry, OwnerKind
from ..selectors.policies import policy_get
from .accounts import account_open
from .grants import EXPIRY_FROM_POLICY, grant_apply, grant_expiry_resolve
from .postings import Posting, account_lock, entry_replay, request_hash

#: Longest shared-object id: "reward:share:<id>" must fit the 200-character idempotency key.
MAX_OBJECT_ID = 180


@dataclass(frozen=True)
class RewardResult:
    granted: bool  # False: replayed, capped, or the policy's amount is 0
    replayed: bool
    grant: Grant | None
    entry: LedgerEntry | None
    reason: str = ""


def _customer(customer_id: object, workspace_id: int | None, field: str) -> Customer:
    queryset = Customer.objects.select_related("workspace")
    if workspace_id is not None:
        queryset = queryset.filter(workspace_id=workspace_id)
    try:
        return queryset.get(pk=int(customer_id))  # type: ignore[arg-type]
    except (Customer.DoesNotExist, TypeError, ValueError):
        raise NotFound(f"product user {customer_id!r} does not exist", field=field) from None


def _account_customer(account_id: object, workspace_id: int | None) -> Customer:
    queryset = CreditAccount.objects.select_related("customer__workspace")
    if workspace_id is not None:
        queryset = queryset.filter(workspace_id=workspace_id)
    try:
        account = queryset.filter(pk=int(account_id)).first()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        account = None
    if account is None:
        raise AccountNotFound(account_id)
    if account.owner_kind != OwnerKind.CUSTOMER:
        raise InvalidState(f"account {account.pk} is not a product user's account; rewards go to product users",
                           field="account")
    return account.customer


def _rewarded(*, customer_id: object, account_id: object, workspace_id: int | None, field: str) -> Customer:
    """The product user a reward is for: by their account when ``account_id`` is given."""
    if account_id is not None:
        return _account_customer(account_id, workspace_id)
    return _customer(customer_id, workspace_id, field)


def _customer_by_external_id(external_id: str, workspace_id: int, field: str) -> Customer:
    customer = Customer.objects.filter(workspace_id=workspace_id, external_id=str(external_id)).first()
    if customer is None:
        raise NotFound(f"product user {external_id!r} does not exist", field=field)
    return customer


def _local_day(customer: Customer, at: datetime) -> date:
    return at.astimezone(ZoneInfo(customer.workspace.timezone or "UTC")).date()


def _reward(
    *, customer: Customer, kind: str, amount: int, key: str, source_id: str, actor: Actor, description: str
) -> RewardResult:
    """Grant ``amount`` of ``kind`` to the customer's account once per ``key``."""
    opened = account_open(workspace_id=customer.workspace_id, owner_kind=OwnerKind.CUSTOMER, owner_id=customer.pk)
    account = account_lock(account_id=opened.pk)
    fingerprint = request_hash(op="reward", kind=kind, source_id=source_id)
    previous = entry_replay(account=account, key=key, fingerprint=fingerprint)
    if previous is not None:
        return RewardResult(granted=False, replayed=True, grant=previous.lot, entry=previous, reason="already rewarded")
    if not amount:
        return RewardResult(granted=False, replayed=False, grant=None, entry=None, reason="policy amount is 0")
    return _reward_apply(account=account, kind=kind, amount=amount, posting=Posting(
        actor=actor, description=description, source=f"reward:{kind}", source_id=source_id,
        idempotency_key=key, fingerprint=fingerprint,
    ))


def _reward_apply(*, account: CreditAccount, kind: str, amount: int, posting: Posting) -> RewardResult:
    now = clock.now()
    expires_at = grant_expiry_resolve(account=account, effective_from=now, expires_at=EXPIRY_FROM_POLICY)
    lot, entry = grant_apply(account=account, amount=amount, kind=kind, posting=posting,
                             effective_from=now, expires_at=expires_at)
    return RewardResult(granted=True, replayed=False, grant=lot, entry=entry)


@transaction.atomic(durable=True)
def reward_invite(
    *,
    actor: Actor,
    inviter_id: int | None = None,
    invited_id: int | None = None,
    account_id: int | None = None,
    invited_external_id: str | None = None,
    workspace_id: int | None = None,
) -> RewardResult:
    """Reward the inviter (by id, or the owner of ``account_id``) once per invited product
    user (by id, or by the product's ``invited_external_id``); policy ``reward_invite``."""
    inviter = _rewarded(customer_id=inviter_id, account_id=account_id, workspace_id=workspace_id, field="inviter")
    field = "invited" if invited_external_id is None else "invited_external_id"
    if invited_external_id is not None:
        invited = _customer_by_external_id(invited_external_id, inviter.workspace_id, field)
    else:
        invited = _customer(invited_id, inviter.workspace_id, field)
    if inviter.pk == invited.pk:
        raise InvalidInput(field, "must be another product user than the inviter")
    # Two inviters rewarded at once for the same user queue here, so only one is paid.
    Customer.objects.select_for_update().filter(pk=invited.pk).exists()
    rewarded_elsewhere = Grant.objects.filter(
        kind=GrantKind.INVITE, source_id=str(invited.pk), account__workspace_id=inviter.workspace_id
    ).exclude(account__customer_id=inviter.pk)
    if rewarded_elsewhere.exists():
        return RewardResult(granted=False, replayed=False, grant=None, entry=None,
                            reason="another inviter was already rewarded for this user")
    amount = policy_get(workspace_id=inviter.workspace_id).reward_invite
    return _reward(customer=inviter, kind=GrantKind.INVITE, amount=amount, key=f"reward:invite:{invited.pk}",
                   source_id=str(invited.pk), actor=actor, description=f"Invite reward for inviting {invited}")


@transaction.atomic(durable=True)
def reward_daily_signin(
    *, actor: Actor, customer_id: int | None = None, account_id: int | None = None, workspace_id: int | None = None
) -> RewardResult:
    """Reward a sign-in once per calendar day in the workspace's time zone."""
    customer = _rewarded(customer_id=customer_id, account_id=account_id, workspace_id=workspace_id, field="customer")
    day = _local_day(customer, clock.now()).isoformat()
    amount = policy_get(workspace_id=customer.workspace_id).reward_daily_signin
    return _reward(customer=customer, kind=GrantKind.DAILY_SIGNIN, amount=amount,
                   key=f"reward:daily_signin:{day}", source_id=day, actor=actor,
                   description=f"Daily sign-in reward {day}")


@transaction.atomic(durable=True)
def reward_share(
    *,
    object_id: str,
    actor: Actor,
    customer_id: int | None = None,
    account_id: int | None = None,
    workspace_id: int | None = None,
) -> RewardResult:
    """Reward sharing an object once per object, at most the policy's daily cap per local
    day (past the cap nothing is granted and the result says so)."""
    if not str(object_id).strip():
        raise InvalidInput("object_id", "is required")
    if len(str(object_id)) > MAX_OBJECT_ID:  # it becomes part of the entry's idempotency key
        raise InvalidInput("object_id", f"must be at most {MAX_OBJECT_ID} characters")
    customer = _rewarded(customer_id=customer_id, account_id=account_id, workspace_id=workspace_id, field="customer")
    policy = policy_get(workspace_id=customer.workspace_id)
    key = f"reward:share:{object_id}"
    opened = account_open(workspace_id=customer.workspace_id, owner_kind=OwnerKind.CUSTOMER, owner_id=customer.pk)
    account_lock(account_id=opened.pk)
    if not LedgerEntry.objects.filter(account_id=opened.pk, idempotency_key=key).exists():
        zone = ZoneInfo(customer.workspace.timezone or "UTC")
        day_start = datetime.combine(_local_day(customer, clock.now()), time.min, tzinfo=zone)
        today = Grant.objects.filter(account_id=opened.pk, kind=GrantKind.SHARE, effective_from__gte=day_start,
                                     effective_from__lt=day_start + timedelta(days=1)).count()
        if today >= policy.share_daily_cap:
            return RewardResult(granted=False, replayed=False, grant=None, entry=None, reason="daily share cap reached")
    return _reward(customer=customer, kind=GrantKind.SHARE, amount=policy.reward_share, key=key,
                   source_id=str(object_id), actor=actor, description=f"Share reward for {object_id}")
