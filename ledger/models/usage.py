"""Post-payment usage: tasks (usage records) priced and charged after they complete."""
from django.db import models
from django.db.models import Q

from .accounts import CreditAccount
from .entries import LedgerEntry
from .parties import Customer, Workspace


class UsageTier(models.TextChoices):
    STANDARD = "standard", "Standard"
    PRO = "pro", "Pro"


class UsageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class UsageTask(models.Model):
    """One unit of metered work. Accepted after a soft balance check, priced by its actual
    duration when it succeeds and charged exactly once (``credits_deducted``); a failed task
    is never charged. ``shortfall`` is what the balance could not cover at charge time.

    An optional hold reserves the estimated price at creation (a HOLD entry drawing lots);
    completion, failure or the hold timeout releases it (a RELEASE entry).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="usage_tasks")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="usage_tasks")
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="usage_tasks"
    )
    external_id = models.CharField(
        max_length=200, null=True, blank=True, help_text="The product's id for the task (idempotency)."
    )
    tier = models.CharField(max_length=16, choices=UsageTier.choices, default=UsageTier.STANDARD)
    status = models.CharField(max_length=16, choices=UsageStatus.choices, default=UsageStatus.PENDING)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    output_duration_seconds = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    credits_calculated = models.BigIntegerField(null=True, blank=True)
    credits_deducted = models.BooleanField(default=False)
    shortfall = models.BigIntegerField(
        default=0, help_text="Credits the task cost beyond what the account could cover."
    )
    charge_entry = models.ForeignKey(
        LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    estimated_duration_seconds = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    hold_amount = models.BigIntegerField(default=0)
    hold_entry = models.ForeignKey(
        LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    hold_released_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"],
                condition=Q(external_id__isnull=False),
                name="ledger_usagetask_unique_external_id",
            ),
            models.CheckConstraint(
                condition=~Q(status=UsageStatus.FAILED) | Q(credits_deducted=False, charge_entry__isnull=True),
                name="ledger_usagetask_failed_never_charged",
            ),
            models.CheckConstraint(
                condition=Q(credits_deducted=False) | Q(status=UsageStatus.SUCCEEDED),
                name="ledger_usagetask_deducted_only_when_succeeded",
            ),
            models.CheckConstraint(
                condition=Q(shortfall__gte=0) & Q(hold_amount__gte=0),
                name="ledger_usagetask_amounts_nonneg",
            ),
            models.CheckConstraint(
                condition=Q(output_duration_seconds__isnull=True) | Q(output_duration_seconds__gte=0),
                name="ledger_usagetask_duration_nonneg",
            ),
        ]
        indexes = [
            # "Tasks without credit deduction" and the sweep for lost callbacks, oldest first.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(status=UsageStatus.SUCCEEDED, credits_deducted=False),
                name="ledger_usage_undeducted_idx",
            ),
            # Tasks charged short, largest shortfall first (the undeducted-tasks report).
            models.Index(
                fields=["-shortfall", "id"], condition=Q(shortfall__gt=0), name="ledger_usage_shortfall_idx",
            ),
            # Holds waiting to be released at their timeout.
            models.Index(
                fields=["hold_expires_at", "id"],
                condition=Q(hold_amount__gt=0, hold_released_at__isnull=True),
                name="ledger_usage_hold_due_idx",
            ),
            models.Index(fields=["account", "-created_at"], name="ledger_usage_account_idx"),
            # The API's task list of an account, newest first by id (keyset pagination).
            models.Index(fields=["account", "-id"], name="ledger_usage_account_id_idx"),
        ]
        permissions = [
            ("charge_usage", "Can charge usage tasks and release their holds"),
        ]

    def __str__(self) -> str:
        return f"Task #{self.pk} {self.tier} {self.status}"

    @property
    def hold_active(self) -> bool:
        return self.hold_amount > 0 and self.hold_released_at is None
