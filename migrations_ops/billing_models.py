"""Models of the USD billing migration: the legacy ``user_billing`` table and the log."""
from __future__ import annotations

from django.db import models


class LegacyUserBilling(models.Model):
    """The product's legacy ``user_billing`` table (not managed by Django)."""

    user_id = models.CharField(max_length=64, primary_key=True)
    email = models.CharField(max_length=254, null=True, blank=True)
    balance_usd = models.DecimalField(max_digits=12, decimal_places=2)
    balance_uah = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        managed = False
        db_table = "user_billing"

    def __str__(self) -> str:
        return f"{self.email or self.user_id}: ${self.balance_usd}"


class BillingMigrationStatus(models.TextChoices):
    SUCCESS = "success", "Migrated"
    ROLLED_BACK = "rolled_back", "Rolled back"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Not converted"


#: Outcomes that moved credits: they carry the account, the grant and the credits.
CONVERTED = (BillingMigrationStatus.SUCCESS, BillingMigrationStatus.ROLLED_BACK)


class BillingMigrationLog(models.Model):
    """What a billing-usd-to-credits run did with one ``user_billing`` user, keyed by
    ``user_id``: converted (the old balances, the rates, the credits and the grant; rollback
    works from it), failed or not converted, with the reason."""

    run = models.ForeignKey("migrations_ops.Run", on_delete=models.PROTECT, related_name="billing_logs")
    user_id = models.CharField(max_length=64, db_index=True)
    email = models.CharField(max_length=254, blank=True, default="")
    old_balance_usd = models.DecimalField(max_digits=12, decimal_places=2)
    old_balance_uah = models.DecimalField(max_digits=12, decimal_places=2)
    usd_rate = models.DecimalField(max_digits=20, decimal_places=8)
    uah_rate = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    usd_zeroed = models.BooleanField(default=False)
    uah_zeroed = models.BooleanField(default=False)
    new_credits = models.BigIntegerField(default=0)
    account = models.ForeignKey("ledger.CreditAccount", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    grant = models.ForeignKey("ledger.Grant", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    status = models.CharField(max_length=16, choices=BillingMigrationStatus.choices, default=BillingMigrationStatus.SUCCESS)
    migrated_at = models.DateTimeField()
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    settle = models.CharField(max_length=16, blank=True)
    reason = models.TextField(blank=True, default="")
    restored_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    restored_uah = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user_id", "status"], name="migops_billing_user_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status__in=CONVERTED)
                | models.Q(new_credits__gt=0, grant__isnull=False, account__isnull=False),
                name="migrations_ops_billinglog_converted_has_credits",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=CONVERTED) | (models.Q(new_credits=0, grant__isnull=True) & ~models.Q(reason="")),
                name="migrations_ops_billinglog_outcome_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: ${self.old_balance_usd} -> {self.new_credits} credits ({self.status})"
