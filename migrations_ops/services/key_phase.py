"""The key-credits phase: one stored setting, read the same way by every process.

The key credits guide moves per-key credits in phases: ``legacy`` (the keys table only),
``dual`` (the keys table and the key's account, written in one transaction) and
``credits`` (the account only). The phase is the row of ``KeyCreditsSetting``, so a web
process, a Celery worker, beat and a report can never disagree about it; Operations
changes it in the admin or with ``manage.py key_credits_phase``, each change confirmed,
with a reason and an audit event.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from ledger import clock
from ledger.actors import Actor
from ledger.exceptions import InvalidInput
from ledger.models import AuditEvent

from ..models import KeyCreditsPhase, KeyCreditsSetting

PHASES = tuple(KeyCreditsPhase.values)
#: The audit action of a phase change.
AUDIT_ACTION = "key_credits.phase_change"


def key_credits_phase() -> str:
    """Return the stored phase (``legacy`` before anyone set one)."""
    phase = KeyCreditsSetting.objects.filter(pk=1).values_list("phase", flat=True).first()
    return phase or KeyCreditsPhase.LEGACY


@dataclass(frozen=True)
class PhaseChange:
    """A phase change: ``changed`` False when the phase already was ``after``."""

    before: str
    after: str
    changed: bool


@transaction.atomic(durable=True)
def key_credits_phase_set(*, phase: object, actor: Actor, reason: str) -> PhaseChange:
    """Store the key-credits phase, with an audit event naming who, from what, to what and
    why; setting the phase it already has writes nothing."""
    if phase not in PHASES:
        raise InvalidInput("phase", f"must be one of {', '.join(PHASES)}, not {phase!r}")
    if not str(reason).strip():
        raise InvalidInput("reason", "is required to change the key credits phase")
    setting, _ = KeyCreditsSetting.objects.select_for_update().get_or_create(pk=1)
    before = setting.phase
    if before == phase:
        return PhaseChange(before=before, after=before, changed=False)
    setting.phase, setting.changed_at, setting.changed_by, setting.reason = phase, clock.now(), actor.label, reason
    setting.save()
    AuditEvent.objects.create(
        action=AUDIT_ACTION, actor=actor.label, actor_user_id=actor.user_id, object_type="key_credits_phase",
        object_id="1", reason=reason, details={"from": before, "to": phase},
    )
    return PhaseChange(before=before, after=str(phase), changed=True)
