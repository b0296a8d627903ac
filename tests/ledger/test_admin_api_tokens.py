"""Admin for API tokens: issuing shows the raw token once and stores only its hash; revoking."""
import pytest
from django.contrib.messages import get_messages

from ledger.models import ApiToken, AuditEvent
from ledger.services.api_tokens import token_hash
from tests.factories import StaffFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(StaffFactory(is_superuser=True))
    return client


def test_add_form_issues_token_and_shows_it_once(admin_client):
    workspace = WorkspaceFactory()
    response = admin_client.post("/admin/ledger/apitoken/add/", {
        "workspace": workspace.pk, "name": "billing worker", "abilities": ["read", "debit"],
    })
    assert response.status_code == 200
    token = ApiToken.objects.get()
    raw = response.context["raw"]
    assert raw in response.content.decode() and "will not be shown again" in response.content.decode()
    assert not [m for m in get_messages(response.wsgi_request) if raw in str(m)]  # never in a cookie/session
    assert token_hash(raw) == token.token_hash
    assert (token.workspace, token.name, token.abilities) == (workspace, "billing worker", ["read", "debit"])
    assert token.created_by is not None
    assert raw not in admin_client.get(f"/admin/ledger/apitoken/{token.pk}/change/").content.decode()


def test_add_form_needs_an_ability(admin_client):
    workspace = WorkspaceFactory()
    response = admin_client.post("/admin/ledger/apitoken/add/", {"workspace": workspace.pk, "name": "x"})
    assert response.status_code == 200 and not ApiToken.objects.exists()


def test_revoke_action_revokes_and_audits(admin_client):
    workspace = WorkspaceFactory()
    admin_client.post("/admin/ledger/apitoken/add/", {"workspace": workspace.pk, "name": "w", "abilities": ["read"]})
    token = ApiToken.objects.get()
    admin_client.post("/admin/ledger/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoke", object_id=str(token.pk)).exists()


def test_changelist_lists_tokens_without_secrets(admin_client):
    workspace = WorkspaceFactory()
    admin_client.post("/admin/ledger/apitoken/add/", {"workspace": workspace.pk, "name": "w", "abilities": ["read"]})
    page = admin_client.get("/admin/ledger/apitoken/").content.decode()
    token = ApiToken.objects.get()
    assert token.prefix in page and token.token_hash not in page
