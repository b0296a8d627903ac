"""The credit policies in force for a workspace: its overrides over the environment defaults."""
from __future__ import annotations

from dataclasses import dataclass, fields

from django.conf import settings

from ..models.policies import POLICY_DEFAULTS, WorkspacePolicy


@dataclass(frozen=True)
class Policy:
    initial_credits: int
    price_standard_per_second: int
    price_pro_per_second: int
    expiry_months: int
    reward_invite: int
    reward_daily_signin: int
    reward_share: int
    share_daily_cap: int


def policy_defaults() -> Policy:
    """Return the environment's policy (settings.CREDITS_*)."""
    return Policy(**{name: getattr(settings, setting) for name, setting in POLICY_DEFAULTS.items()})


def policy_get(*, workspace_id: int) -> Policy:
    """Return the policy in force for the workspace (one query)."""
    defaults = policy_defaults()
    override = WorkspacePolicy.objects.filter(workspace_id=workspace_id).first()
    if override is None:
        return defaults
    values = {}
    for item in fields(Policy):
        value = getattr(override, item.name)
        values[item.name] = getattr(defaults, item.name) if value is None else value
    return Policy(**values)
