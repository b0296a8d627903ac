"""Rewards: invite, daily sign-in and share, idempotent by construction, from the policy."""
from datetime import datetime, timezone
from unittest import mock

import pytest

from ledger import clock
from ledger.exceptions import InvalidInput, NotFound
from ledger.models import GrantKind, LedgerEntry
from ledger.services.customers import customer_signup
from ledger.services.policies import policy_update
from ledger.services.rewards import reward_daily_signin, reward_invite, reward_share

from ..invariants import assert_account_consistent

pytestmark = pytest.mark.django_db


def signup(workspace, actor, name):
    return customer_signup(workspace_id=workspace.pk, external_id=name, email=f"{name}@example.com", actor=actor)


def at(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_invite_rewards_inviter_once_per_invited_user(workspace, actor):
    inviter, invited, other = (signup(workspace, actor, name) for name in ("ann", "bob", "cy"))
    first = reward_invite(inviter_id=inviter.customer.pk, invited_id=invited.customer.pk, actor=actor)
    assert first.granted and first.grant.kind == GrantKind.INVITE and first.grant.amount == 100
    again = reward_invite(inviter_id=inviter.customer.pk, invited_id=invited.customer.pk, actor=actor)
    assert again.replayed and not again.granted and again.entry.pk == first.entry.pk
    assert not reward_invite(inviter_id=other.customer.pk, invited_id=invited.customer.pk, actor=actor).granted
    inviter.account.refresh_from_db()
    assert inviter.account.balance == 200  # 100 signup + 100 invite
    assert first.grant.expires_at == clock.add_months(first.grant.effective_from, 6)
    assert_account_consistent(inviter.account.pk)


def test_invite_of_oneself_is_refused(workspace, actor):
    ann = signup(workspace, actor, "ann")
    with pytest.raises(InvalidInput, match="invited"):
        reward_invite(inviter_id=ann.customer.pk, invited_id=ann.customer.pk, actor=actor)


def test_daily_signin_once_per_local_calendar_day(workspace, actor):
    workspace.timezone = "America/New_York"
    workspace.save()
    ann = signup(workspace, actor, "ann")
    granted = []
    for moment in (at(2026, 5, 4, 3), at(2026, 5, 4, 3, 59), at(2026, 5, 4, 4, 0), at(2026, 5, 4, 20)):
        with mock.patch("ledger.clock.now", return_value=moment):
            granted.append(reward_daily_signin(customer_id=ann.customer.pk, actor=actor).granted)
    # 03:00 and 03:59 UTC are May 3 in New York; 04:00 and 20:00 UTC are May 4.
    assert granted == [True, False, True, False]
    assert LedgerEntry.objects.filter(account=ann.account, source="reward:daily_signin").count() == 2


def test_share_rewards_each_object_once_up_to_daily_cap(workspace, actor):
    policy_update(workspace_id=workspace.pk, changes={"share_daily_cap": 2, "reward_share": 7}, reason="t", actor=actor)
    ann = signup(workspace, actor, "ann")
    with mock.patch("ledger.clock.now", return_value=at(2026, 5, 4, 10)):
        assert reward_share(customer_id=ann.customer.pk, object_id="v1", actor=actor).granted
        assert reward_share(customer_id=ann.customer.pk, object_id="v1", actor=actor).replayed
        assert reward_share(customer_id=ann.customer.pk, object_id="v2", actor=actor).granted
        capped = reward_share(customer_id=ann.customer.pk, object_id="v3", actor=actor)
        assert not capped.granted and capped.reason == "daily share cap reached"
    with mock.patch("ledger.clock.now", return_value=at(2026, 5, 5, 10)):
        assert reward_share(customer_id=ann.customer.pk, object_id="v3", actor=actor).grant.amount == 7
    ann.account.refresh_from_db()
    assert ann.account.balance == 100 + 3 * 7


def test_reward_amount_zero_in_policy_grants_nothing(workspace, actor):
    policy_update(workspace_id=workspace.pk, changes={"reward_daily_signin": 0}, reason="off", actor=actor)
    ann = signup(workspace, actor, "ann")
    result = reward_daily_signin(customer_id=ann.customer.pk, actor=actor)
    assert not result.granted and result.reason == "policy amount is 0"


def test_reward_for_unknown_user_is_not_found(db, actor):
    with pytest.raises(NotFound):
        reward_daily_signin(customer_id=424242, actor=actor)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_inviters_rewarded_at_once_for_the_same_user_are_paid_once():
    from ledger.actors import Actor
    from tests.concurrency import run_in_threads
    from tests.factories import WorkspaceFactory

    actor = Actor.system("tests")
    workspace = WorkspaceFactory()
    invited = signup(workspace, actor, "newcomer")
    inviters = [signup(workspace, actor, f"inviter{n}") for n in range(4)]

    def work(i):
        return reward_invite(inviter_id=inviters[i].customer.pk, invited_id=invited.customer.pk, actor=actor).granted

    results, errors = run_in_threads(work, count=len(inviters))
    assert errors == [] and sorted(results) == [False, False, False, True]
    assert LedgerEntry.objects.filter(lot__kind=GrantKind.INVITE).count() == 1
