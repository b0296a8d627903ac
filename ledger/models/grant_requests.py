"""Grant requests: a grant above the Support limit waits for a second person's approval."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from .accounts import CreditAccount
from .grants import Grant, GrantKind


class GrantRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class GrantRequest(models.Model):
    """A grant a Support user asked for but may not make alone (four-eyes).

    Approval by another user with ``approve_grant_requests`` is what makes the grant; the
    request then links to it. ``expires_at`` empty with ``expiry_from_policy`` means the
    workspace policy's expiry, computed when the grant is made.
    """

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="grant_requests")
    amount = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=GrantKind.choices, default=GrantKind.MANUAL)
    priority = models.PositiveSmallIntegerField(default=50)
    expires_at = models.DateTimeField(null=True, blank=True)
    expiry_from_policy = models.BooleanField(default=True)
    reason = models.TextField()
    status = models.CharField(
        max_length=16, choices=GrantRequestStatus.choices, default=GrantRequestStatus.PENDING
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    grant = models.OneToOneField(
        Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="request"
    )
    idempotency_key = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_grantrequest_amount_positive"),
            models.CheckConstraint(
                condition=Q(status=GrantRequestStatus.PENDING, decided_at__isnull=True)
                | (~Q(status=GrantRequestStatus.PENDING) & Q(decided_at__isnull=False)),
                name="ledger_grantrequest_decided_when_not_pending",
            ),
            models.CheckConstraint(
                condition=Q(status=GrantRequestStatus.APPROVED, grant__isnull=False)
                | (~Q(status=GrantRequestStatus.APPROVED) & Q(grant__isnull=True)),
                name="ledger_grantrequest_grant_iff_approved",
            ),
        ]
        indexes = [models.Index(fields=["status", "-id"], name="ledger_grantreq_status_idx")]

    def __str__(self) -> str:
        return f"Request #{self.pk}: {self.amount} credits to account {self.account_id} ({self.status})"
