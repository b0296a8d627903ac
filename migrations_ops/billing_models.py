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


class BillingMigrationLog(models.Model):
    """One user's USD (and UAH) balance converted to credits by a billing-usd-to-credits
    run: the old balances, the rates, the credits and the grant; rollback works from it."""

    run = models.ForeignKey("migrations_ops.Run", on_delete=models.PROTECT, related_name="billing_logs")
    user_id = models.CharField(max_length=64, db_index=True)
    email = models.CharField(max_length=254)
    old_balance_usd = models.DecimalField(max_digits=12, decimal_places=2)
    old_balance_uah = models.DecimalField(max_digits=12, decimal_places=2)
    usd_rate = models.DecimalField(max_digits=20, decimal_places=8)
    uah_rate = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    usd_zeroed = models.BooleanField(default=False)
    uah_zeroed = models.BooleanField(default=False)
    new_credits = models.BigIntegerField()
    account = models.ForeignKey("ledger.CreditAccount", on_delete=models.PROTECT, related_name="+")
    grant = models.ForeignKey("ledger.Grant", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=BillingMigrationStatus.choices, default=BillingMigrationStatus.SUCCESS)
    migrated_at = models.DateTimeField()
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    settle = models.CharField(max_length=16, blank=True)
    restored_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    restored_uah = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user_id", "status"], name="migops_billing_user_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(new_credits__gt=0), name="migrations_ops_billinglog_credits_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.email}: ${self.old_balance_usd} -> {self.new_credits} credits ({self.status})"
