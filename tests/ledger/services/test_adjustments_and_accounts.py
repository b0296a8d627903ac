"""Adjustments, signup, policies and recalculation."""
import pytest

from ledger.exceptions import InsufficientCredits, InvalidInput
from ledger.models import CreditAccount, EntryType, GrantKind, OwnerKind, PolicyChange
from ledger.selectors.policies import policy_get
from ledger.services.accounts import account_open
from ledger.services.adjustments import adjustment_create
from ledger.services.customers import customer_signup
from ledger.services.policies import policy_update
from tests.factories import ApiKeyFactory

from ..helpers import nothing_written

pytestmark = pytest.mark.django_db


def test_positive_adjustment_adds_a_lot_and_negative_draws_lots(account, actor):
    up = adjustment_create(account_id=account.pk, amount=40, reason="goodwill", actor=actor, idempotency_key="a1")
    assert (up.entry.entry_type, up.entry.amount, up.grant.kind, up.grant.expires_at) == (
        EntryType.ADJUSTMENT, 40, GrantKind.ADJUSTMENT, None,
    )
    down = adjustment_create(account_id=account.pk, amount="-15", reason="double grant", actor=actor, idempotency_key="a2")
    account.refresh_from_db()
    assert (down.entry.amount, down.grant, account.balance) == (-15, None, 25)
    assert (account.total_earned, account.total_spent) == (40, 15)


def test_adjustment_needs_reason_and_respects_overdraft(account, actor):
    with nothing_written(), pytest.raises(InvalidInput, match="reason"):
        adjustment_create(account_id=account.pk, amount=5, reason="", actor=actor, idempotency_key="a")
    with nothing_written(), pytest.raises(InsufficientCredits):
        adjustment_create(account_id=account.pk, amount=-5, reason="x", actor=actor, idempotency_key="a")
    with nothing_written(), pytest.raises(InvalidInput, match="must not be zero"):
        adjustment_create(account_id=account.pk, amount=0, reason="x", actor=actor, idempotency_key="a")


def test_signup_grants_initial_credits_once(workspace, actor):
    first = customer_signup(workspace_id=workspace.pk, external_id="u-1", email="u1@example.com", actor=actor)
    again = customer_signup(workspace_id=workspace.pk, external_id="u-1", email="u1@example.com", actor=actor)
    account = CreditAccount.objects.get(pk=first.account.pk)
    assert first.created and not again.created and again.account.pk == account.pk
    assert (account.balance, account.grants.get().kind) == (100, GrantKind.SIGNUP)


def test_signup_refuses_bad_email_and_writes_nothing(workspace, actor):
    with nothing_written(), pytest.raises(InvalidInput, match="email"):
        customer_signup(workspace_id=workspace.pk, external_id="u-1", email="not-an-email", actor=actor)


def test_account_open_is_one_per_owner(workspace):
    key = ApiKeyFactory(workspace=workspace)
    first = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.API_KEY, owner_id=key.pk)
    second = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.API_KEY, owner_id=key.pk)
    own = account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.WORKSPACE)
    assert first.pk == second.pk and own.owner == workspace
    with pytest.raises(InvalidInput, match="owner_id"):
        account_open(workspace_id=workspace.pk, owner_kind=OwnerKind.IDENTITY)


def test_policy_override_and_history(workspace, staff_actor):
    policy_update(workspace_id=workspace.pk, changes={"initial_credits": 250, "reward_share": 5}, reason="launch", actor=staff_actor)
    policy = policy_get(workspace_id=workspace.pk)
    assert (policy.initial_credits, policy.reward_share, policy.price_pro_per_second) == (250, 5, 14)
    policy_update(workspace_id=workspace.pk, changes={"initial_credits": None}, reason="back", actor=staff_actor)
    assert policy_get(workspace_id=workspace.pk).initial_credits == 100
    history = list(PolicyChange.objects.values_list("field", "old_value", "new_value", "changed_by_id"))
    user_id = staff_actor.user_id
    assert sorted(history) == sorted([
        ("initial_credits", "", "250", user_id), ("reward_share", "", "5", user_id), ("initial_credits", "250", "", user_id),
    ])


@pytest.mark.parametrize("changes, field", [({"bogus": 1}, "bogus"), ({"expiry_months": -1}, "expiry_months")])
def test_policy_update_refuses_bad_input(workspace, actor, changes, field):
    with pytest.raises(InvalidInput) as error:
        policy_update(workspace_id=workspace.pk, changes=changes, reason="x", actor=actor)
    assert error.value.field == field and not PolicyChange.objects.exists()
