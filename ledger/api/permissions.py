"""Token abilities: each view names the ability its method needs."""
from __future__ import annotations

from rest_framework.permissions import BasePermission

from ..models import Ability, ApiToken


class TokenHasAbility(BasePermission):
    """Allow a request whose token has the ability the view requires for its method.

    Views set ``abilities = {"GET": Ability.READ, "POST": Ability.DEBIT}``; a method not
    listed is refused.
    """

    message = "This token does not have the ability this call needs."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        needed = getattr(view, "abilities", {}).get(request.method)
        if needed is None and request.method in ("HEAD", "OPTIONS"):
            needed = Ability.READ
        self.message = f"This token does not have the '{needed}' ability this call needs."
        return needed is not None and token.has_ability(needed)
