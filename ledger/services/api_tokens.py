"""Issuing and revoking the API tokens products use to call the REST API."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction

from .. import clock
from ..actors import Actor
from ..exceptions import InvalidInput, NotFound
from ..models import Ability, ApiToken, AuditEvent, Workspace

#: Every raw token starts with this, so secret scanners can recognise leaked ones.
TOKEN_MARK = "cs"


def token_hash(raw: str) -> str:
    """Return the stored form of a raw token: its SHA-256, hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str  # shown once; never stored


@transaction.atomic(durable=True)
def api_token_create(*, workspace_id: int, name: str, abilities: list[str], actor: Actor) -> IssuedToken:
    """Issue a token for one workspace with the given abilities; return the raw token, which
    is never stored and cannot be shown again."""
    if not name.strip():
        raise InvalidInput("name", "is required")
    unknown = sorted(set(abilities) - set(Ability.values))
    if unknown or not abilities:
        raise InvalidInput("abilities", f"must be a non-empty subset of {', '.join(Ability.values)}")
    if not Workspace.objects.filter(pk=workspace_id).exists():
        raise NotFound(f"workspace {workspace_id!r} does not exist", field="workspace")
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_MARK}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        workspace_id=workspace_id, name=name.strip(), prefix=prefix, token_hash=token_hash(raw),
        abilities=[a for a in Ability.values if a in abilities], created_by_id=actor.user_id,
    )
    AuditEvent.objects.create(
        action="api_token.create", actor=actor.label, actor_user_id=actor.user_id,
        object_type="api_token", object_id=str(token.pk),
        details={"name": token.name, "prefix": prefix, "abilities": token.abilities},
    )
    return IssuedToken(token=token, raw=raw)


@transaction.atomic(durable=True)
def api_token_revoke(*, token_id: int, actor: Actor, reason: str = "") -> ApiToken:
    """Revoke a token: from the next request on it authenticates nothing. Revoking a revoked
    token changes nothing."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    if token is None:
        raise NotFound(f"API token {token_id!r} does not exist", field="token")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        AuditEvent.objects.create(
            action="api_token.revoke", actor=actor.label, actor_user_id=actor.user_id,
            object_type="api_token", object_id=str(token.pk), reason=reason,
        )
    return token
