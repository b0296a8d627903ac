"""Issuing and revoking API tokens."""
import pytest

from ledger.exceptions import InvalidInput, NotFound
from ledger.models import ApiToken
from ledger.services.api_tokens import api_token_create, api_token_revoke, token_hash

pytestmark = pytest.mark.django_db


def test_issued_token_is_returned_once_and_only_its_hash_stored(workspace, actor):
    issued = api_token_create(workspace_id=workspace.pk, name="worker", abilities=["debit", "read"], actor=actor)
    stored = ApiToken.objects.get()
    assert stored.token_hash == token_hash(issued.raw) and issued.raw not in str(ApiToken.objects.values().get())
    assert stored.abilities == ["read", "debit"]  # canonical order


def test_two_tokens_never_share_a_prefix_or_secret(workspace, actor):
    a = api_token_create(workspace_id=workspace.pk, name="a", abilities=["read"], actor=actor)
    b = api_token_create(workspace_id=workspace.pk, name="b", abilities=["read"], actor=actor)
    assert a.raw != b.raw and a.token.prefix != b.token.prefix


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": " ", "abilities": ["read"]}, "name"),
    ({"name": "x", "abilities": []}, "abilities"),
    ({"name": "x", "abilities": ["read", "admin"]}, "abilities"),
])
def test_bad_token_parameters_name_the_field(workspace, actor, kwargs, field):
    with pytest.raises(InvalidInput) as raised:
        api_token_create(workspace_id=workspace.pk, actor=actor, **kwargs)
    assert raised.value.field == field and not ApiToken.objects.exists()


def test_token_for_missing_workspace_is_not_found(db, actor):
    with pytest.raises(NotFound):
        api_token_create(workspace_id=404, name="x", abilities=["read"], actor=actor)


def test_revoking_twice_keeps_the_first_revocation_time(workspace, actor):
    issued = api_token_create(workspace_id=workspace.pk, name="x", abilities=["read"], actor=actor)
    first = api_token_revoke(token_id=issued.token.pk, actor=actor).revoked_at
    assert api_token_revoke(token_id=issued.token.pk, actor=actor).revoked_at == first
