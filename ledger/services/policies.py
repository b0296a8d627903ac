"""Changing a workspace's credit policy, keeping every change with who made it."""
from __future__ import annotations

from django.db import transaction

from ..actors import Actor
from ..exceptions import InvalidInput
from ..models import PolicyChange, WorkspacePolicy
from ..models.policies import POLICY_DEFAULTS


@transaction.atomic(durable=True)
def policy_update(*, workspace_id: int, changes: dict, reason: str, actor: Actor) -> list[PolicyChange]:
    """Set (or, with None, clear back to the default) policy overrides of a workspace.

    Every field that really changes gets a PolicyChange row; unknown fields or negative
    values are refused and nothing is written.
    """
    for name, value in changes.items():
        if name not in POLICY_DEFAULTS:
            raise InvalidInput(name, f"is not a policy; choose from {', '.join(POLICY_DEFAULTS)}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidInput(name, "must be a whole number, 0 or more, or empty for the default")
    if not reason.strip():
        raise InvalidInput("reason", "is required to change a policy")
    policy, _ = WorkspacePolicy.objects.select_for_update().get_or_create(workspace_id=workspace_id)
    recorded = []
    for name, value in changes.items():
        old = getattr(policy, name)
        if old == value:
            continue
        setattr(policy, name, value)
        recorded.append(
            PolicyChange(
                workspace_id=workspace_id, field=name,
                old_value="" if old is None else str(old), new_value="" if value is None else str(value),
                reason=reason, changed_by_id=actor.user_id, actor=actor.label,
            )
        )
    policy.save()
    return PolicyChange.objects.bulk_create(recorded)
