"""Rate limits per API token, separately for reads and writes (rates in settings)."""
from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """Limit each token to the ``token_read`` rate for GET/HEAD/OPTIONS and the
    ``token_write`` rate for other methods (REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])."""

    def allow_request(self, request, view):
        self.scope = "token_read" if request.method in ("GET", "HEAD", "OPTIONS") else "token_write"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def __init__(self) -> None:  # the scope, hence the rate, is only known per request
        pass

    def get_rate(self) -> str:
        # Read the settings now, not at import, so a changed setting takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return None  # unauthenticated requests are refused before they cost anything
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
