"""Bearer-token authentication: ``Authorization: Bearer cs_<prefix>_<secret>``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from rest_framework import authentication, exceptions

from .. import clock
from ..models import ApiToken
from ..services.api_tokens import token_hash

#: last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiClient:
    """``request.user`` of an API call: the product behind a token, never a staff user."""

    token: ApiToken
    is_authenticated: bool = True
    is_staff: bool = False

    @property
    def pk(self) -> None:
        return None

    def __str__(self) -> str:
        return f"api:{self.token.name}"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate a request by its bearer token; ``request.auth`` is the ApiToken."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = ApiToken.objects.filter(token_hash=token_hash(raw)).first()
        if token is None or not token.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = clock.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return ApiClient(token=token), token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
