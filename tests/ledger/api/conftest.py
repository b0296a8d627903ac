"""Fixtures for API tests: tokens with abilities and clients that send them."""
import itertools

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from ledger.actors import Actor
from ledger.models import Ability, GrantKind
from ledger.services.api_tokens import api_token_create
from ledger.services.grants import grant_create

ALL_ABILITIES = list(Ability.values)
_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    cache.clear()  # rate-limit counters live in the cache
    yield
    cache.clear()


def client_for(workspace, abilities=ALL_ABILITIES, name="tests") -> APIClient:
    issued = api_token_create(workspace_id=workspace.pk, name=name, abilities=abilities, actor=Actor.system("tests"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    client.token = issued.token
    return client


def post(client, url, data=None, key=None):
    """POST JSON with an Idempotency-Key (a fresh one unless given)."""
    return client.post(url, data or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or f"key-{next(_keys)}")


@pytest.fixture
def api(workspace):
    """A client whose token has every ability in ``workspace``."""
    return client_for(workspace)


@pytest.fixture
def funded(account, actor):
    """``account`` with a 500-credit purchase lot."""
    grant_create(account_id=account.pk, amount=500, kind=GrantKind.PURCHASE, actor=actor, idempotency_key="fund")
    account.refresh_from_db()
    return account
