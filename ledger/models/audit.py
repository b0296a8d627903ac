"""Audit events: who did what to which object, when and why, beside the ledger entries."""
from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """An action of a person or a job that is not itself a ledger entry (a repair, a policy
    change, a migration run, an approval). Written in the same transaction as the action."""

    action = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="ledger_audit_object_idx"),
            # The admin audit page filters by staff user, newest first.
            models.Index(fields=["actor_user", "-created_at"], name="ledger_audit_user_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type} {self.object_id}"
