"""Rewards over the API: daily sign-in, invite and share, each granted once, or saying why not."""
from datetime import timedelta

import pytest

from ledger import clock
from ledger.models import CreditAccount, Grant, GrantKind
from tests.factories import AccountFactory, CustomerFactory, WorkspaceFactory

from ..helpers import nothing_written
from .conftest import client_for, post

pytestmark = pytest.mark.django_db


def url(account, kind):
    return f"/api/v1/accounts/{account.pk}/rewards/{kind}/"


def test_sign_in_grants_the_daily_reward_with_201(api, account):
    response = post(api, url(account, "sign-in"))
    assert response.status_code == 201
    body = response.json()
    assert (body["granted"], body["replayed"], body["reason"]) == (True, False, "")
    assert (body["grant"]["kind"], body["grant"]["amount"], body["entry"]["balance_after"]) == ("daily_signin", 10, 10)
    assert body["grant"]["expires_at"]  # the workspace's expiry policy


def test_second_sign_in_the_same_day_grants_nothing_and_says_why(api, account):
    first = post(api, url(account, "sign-in")).json()
    with nothing_written():
        again = post(api, url(account, "sign-in"))
    assert again.status_code == 200
    body = again.json()
    assert (body["granted"], body["replayed"], body["reason"]) == (False, True, "already rewarded")
    assert body["grant"]["id"] == first["grant"]["id"]


def test_sign_in_the_next_day_is_rewarded_again(api, account, monkeypatch):
    post(api, url(account, "sign-in"))
    tomorrow = clock.now() + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: tomorrow)
    assert post(api, url(account, "sign-in")).status_code == 201
    assert Grant.objects.filter(account=account, kind=GrantKind.DAILY_SIGNIN).count() == 2


def test_invite_rewards_the_inviter_once_per_invited_user(api, account):
    invited = CustomerFactory(workspace=account.workspace)
    first = post(api, url(account, "invite"), {"invited_external_id": invited.external_id})
    assert first.status_code == 201
    assert (first.json()["grant"]["kind"], first.json()["grant"]["amount"]) == ("invite", 100)
    again = post(api, url(account, "invite"), {"invited_external_id": invited.external_id})
    assert again.status_code == 200 and again.json()["reason"] == "already rewarded"


def test_invite_of_a_user_someone_else_invited_grants_nothing(api, account):
    invited = CustomerFactory(workspace=account.workspace)
    other = AccountFactory(workspace=account.workspace)
    post(api, url(other, "invite"), {"invited_external_id": invited.external_id})
    response = post(api, url(account, "invite"), {"invited_external_id": invited.external_id})
    assert response.status_code == 200
    assert response.json() | {"grant": None} == {
        "granted": False, "replayed": False, "reason": "another inviter was already rewarded for this user",
        "grant": None, "entry": None}


def test_invite_of_an_unknown_user_is_404_on_the_field(api, account):
    with nothing_written():
        response = post(api, url(account, "invite"), {"invited_external_id": "nobody"})
    assert response.status_code == 404 and list(response.json()["error"]["fields"]) == ["invited_external_id"]


def test_invite_of_another_workspaces_user_is_404(api, account):
    stranger = CustomerFactory(workspace=WorkspaceFactory())
    response = post(api, url(account, "invite"), {"invited_external_id": stranger.external_id})
    assert response.status_code == 404


def test_inviting_yourself_is_400(api, account):
    response = post(api, url(account, "invite"), {"invited_external_id": account.customer.external_id})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["invited_external_id"]


def test_share_is_rewarded_once_per_object_up_to_the_daily_cap(api, account, settings):
    settings.CREDITS_SHARE_DAILY_CAP = 2
    assert post(api, url(account, "share"), {"object_id": "v-1"}).status_code == 201
    again = post(api, url(account, "share"), {"object_id": "v-1"})
    assert again.status_code == 200 and again.json()["reason"] == "already rewarded"
    assert post(api, url(account, "share"), {"object_id": "v-2"}).status_code == 201
    capped = post(api, url(account, "share"), {"object_id": "v-3"})
    assert capped.status_code == 200
    assert (capped.json()["granted"], capped.json()["reason"]) == (False, "daily share cap reached")
    account.refresh_from_db()
    assert account.balance == 20


@pytest.mark.parametrize("payload", [{}, {"object_id": ""}, {"object_id": "x" * 181}])
def test_share_without_a_valid_object_id_is_400(api, account, payload):
    response = post(api, url(account, "share"), payload)
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["object_id"]


def test_policy_amount_zero_grants_nothing_and_says_so(api, account, settings):
    settings.CREDITS_REWARD_DAILY_SIGNIN = 0
    body = post(api, url(account, "sign-in")).json()
    assert (body["granted"], body["reason"], body["grant"]) == (False, "policy amount is 0", None)


def test_reward_to_an_account_that_is_not_a_product_users_is_409(api, workspace):
    own = CreditAccount.objects.create(workspace=workspace, owner_kind="workspace")
    with nothing_written():
        response = post(api, url(own, "sign-in"))
    assert response.status_code == 409 and list(response.json()["error"]["fields"]) == ["account"]


@pytest.mark.parametrize(("kind", "payload"), [("sign-in", {}), ("invite", {"invited_external_id": "x"}),
                                               ("share", {"object_id": "v"})])
def test_another_workspaces_account_is_404_exactly_like_a_missing_one(account, kind, payload):
    stranger = client_for(WorkspaceFactory())
    foreign = post(stranger, url(account, kind), payload)
    missing = post(stranger, f"/api/v1/accounts/{account.pk + 1000}/rewards/{kind}/", payload)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "account_not_found"
    assert not Grant.objects.exists()


@pytest.mark.parametrize("kind", ["sign-in", "share"])
def test_rewards_need_the_grant_ability(account, kind):
    payload = {"object_id": "v"} if kind == "share" else {}
    denied = client_for(account.workspace, ["read", "debit", "complete_tasks"])
    response = post(denied, url(account, kind), payload)
    assert response.status_code == 403 and "grant" in response.json()["error"]["message"]
    assert post(client_for(account.workspace, ["grant"]), url(account, kind), payload).status_code == 201


def test_reward_replayed_by_key_is_byte_identical_and_writes_nothing(api, account):
    first = post(api, url(account, "share"), {"object_id": "v-1"}, key="share-1")
    with nothing_written():
        again = post(api, url(account, "share"), {"object_id": "v-1"}, key="share-1")
    assert (again.status_code, again.content) == (201, first.content) and again["Idempotent-Replayed"] == "true"
    assert post(api, url(account, "share"), {"object_id": "v-2"}, key="share-1").status_code == 422
