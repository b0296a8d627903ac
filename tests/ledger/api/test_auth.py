"""Tokens: bearer authentication, abilities, workspace isolation (404), rate limits."""
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from ledger import clock
from ledger.actors import Actor
from ledger.models import ApiToken, AuditEvent, Grant
from ledger.services.api_tokens import api_token_revoke
from tests.factories import WorkspaceFactory

from .conftest import client_for, post

pytestmark = pytest.mark.django_db


def test_request_without_token_is_401_with_bearer_challenge(account):
    response = APIClient().get(f"/api/v1/accounts/{account.pk}/balance/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("header", ["Bearer cs_nope_nope", "Bearer", "Bearer a b"])
def test_unknown_or_malformed_token_is_401(account, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(f"/api/v1/accounts/{account.pk}/balance/").status_code == 401


def test_revoked_token_is_401(api, account):
    api_token_revoke(token_id=api.token.pk, actor=Actor.system("tests"))
    assert api.get(f"/api/v1/accounts/{account.pk}/balance/").status_code == 401


def test_only_the_hash_of_a_token_is_stored(workspace):
    client = client_for(workspace)
    raw = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    stored = ApiToken.objects.get(pk=client.token.pk)
    assert raw not in str(list(ApiToken.objects.values()))
    assert raw.startswith(f"cs_{stored.prefix}_") and len(stored.token_hash) == 64


def test_token_creation_and_revocation_are_audited(workspace):
    client = client_for(workspace)
    api_token_revoke(token_id=client.token.pk, actor=Actor.system("tests"), reason="leaked")
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)) == ["api_token.create", "api_token.revoke"]


def test_last_used_is_recorded_at_most_once_a_minute(api, account, monkeypatch):
    api.get(f"/api/v1/accounts/{account.pk}/balance/")
    first = ApiToken.objects.get(pk=api.token.pk).last_used_at
    api.get(f"/api/v1/accounts/{account.pk}/balance/")
    assert ApiToken.objects.get(pk=api.token.pk).last_used_at == first
    later = clock.now() + timedelta(minutes=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    api.get(f"/api/v1/accounts/{account.pk}/balance/")
    assert ApiToken.objects.get(pk=api.token.pk).last_used_at == later


@pytest.mark.parametrize(("method", "path", "payload", "ability"), [
    ("get", "balance/", None, "read"),
    ("get", "entries/", None, "read"),
    ("post", "debits/", {"amount": 1}, "debit"),
    ("post", "grants/", {"amount": 1}, "grant"),
])
def test_token_without_the_ability_is_403_and_with_it_passes(account, funded, method, path, payload, ability):
    others = [a for a in ("read", "debit", "grant", "complete_tasks") if a != ability]
    url = f"/api/v1/accounts/{funded.pk}/{path}"
    denied = client_for(funded.workspace, others)
    allowed = client_for(funded.workspace, [ability])
    call = (lambda c: c.get(url)) if method == "get" else (lambda c: post(c, url, payload))
    response = call(denied)
    assert response.status_code == 403
    assert ability in response.json()["error"]["message"]
    assert call(allowed).status_code in (200, 201)


def test_signup_needs_the_grant_ability(workspace):
    response = post(client_for(workspace, ["read", "debit"]), "/api/v1/customers/", {"external_id": "u", "email": "u@x.io"})
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "suffix"), [
    ("get", "balance/"), ("get", "entries/"), ("post", "debits/"), ("post", "grants/"),
])
def test_another_workspaces_account_is_404_exactly_like_a_missing_one(funded, method, suffix):
    stranger = client_for(WorkspaceFactory())
    call = (lambda url: stranger.get(url)) if method == "get" else (lambda url: post(stranger, url, {"amount": 1}))
    foreign = call(f"/api/v1/accounts/{funded.pk}/{suffix}")
    missing = call(f"/api/v1/accounts/{funded.pk + 1000}/{suffix}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "account_not_found"


def test_another_workspaces_grant_cannot_be_voided(funded):
    stranger = client_for(WorkspaceFactory())
    grant = Grant.objects.get(account=funded)
    response = post(stranger, f"/api/v1/accounts/{funded.pk}/grants/{grant.pk}/void/", {"reason": "x"})
    assert response.status_code == 404
    assert Grant.objects.get(pk=grant.pk).voided_at is None


def test_lookup_does_not_find_another_workspaces_user(account):
    stranger = client_for(WorkspaceFactory())
    response = stranger.get("/api/v1/accounts/lookup/", {"owner_kind": "customer", "external_id": account.customer.external_id})
    assert response.status_code == 404


def test_rate_limit_is_per_token_and_answers_429_with_retry_after(account, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token_read": "2/min", "token_write": "2/min"}}
    busy, calm = client_for(account.workspace), client_for(account.workspace)
    url = f"/api/v1/accounts/{account.pk}/balance/"
    assert [busy.get(url).status_code for _ in range(3)] == [200, 200, 429]
    throttled = busy.get(url)
    assert throttled.json()["error"]["code"] == "throttled" and int(throttled["Retry-After"]) > 0
    assert calm.get(url).status_code == 200


def test_reads_and_writes_have_separate_limits(account, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token_read": "1/min", "token_write": "5/min"}}
    client = client_for(account.workspace)
    url = f"/api/v1/accounts/{account.pk}/balance/"
    assert [client.get(url).status_code for _ in range(2)] == [200, 429]
    assert post(client, "/api/v1/customers/", {"external_id": "u", "email": "u@x.io"}).status_code == 201


def test_every_api_route_requires_a_token(account):
    client = APIClient()
    for url in ("/api/v1/accounts/lookup/?owner_kind=workspace", f"/api/v1/accounts/{account.pk}/entries/"):
        assert client.get(url).status_code == 401
    assert client.post("/api/v1/customers/", {}, format="json").status_code == 401

