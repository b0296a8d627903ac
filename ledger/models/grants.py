"""Grants (lots): credits entering an account, drawn down by debits in a fixed order."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .accounts import CreditAccount


class GrantKind(models.TextChoices):
    SIGNUP = "signup", "Signup"
    INVITE = "invite", "Invite reward"
    DAILY_SIGNIN = "daily_signin", "Daily sign-in"
    SHARE = "share", "Share reward"
    PURCHASE = "purchase", "Purchase"
    MANUAL = "manual", "Manual grant"
    REFILL = "refill", "Refill"
    MIGRATION = "migration", "Migration"
    ADJUSTMENT = "adjustment", "Adjustment"
    REFUND = "refund", "Refund"


class Grant(models.Model):
    """A lot of credits. Debits draw active lots by priority (lower first), then earliest
    expiry (never-expiring last), then oldest. A lot that expired or was voided holds 0."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="grants")
    kind = models.CharField(max_length=16, choices=GrantKind.choices)
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    priority = models.PositiveSmallIntegerField(
        default=50, help_text="0-100; lower numbers are spent first."
    )
    effective_from = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    expired_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff user who granted it, when a person did.",
    )
    actor = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    source = models.CharField(max_length=64, blank=True)
    source_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_grant_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="ledger_grant_remaining_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("effective_from")),
                name="ledger_grant_expiry_after_effective",
            ),
            models.CheckConstraint(
                condition=Q(priority__lte=100), name="ledger_grant_priority_range"
            ),
            models.CheckConstraint(
                condition=(Q(expired_at__isnull=True) & Q(voided_at__isnull=True)) | Q(remaining=0),
                name="ledger_grant_inactive_holds_nothing",
            ),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="ledger_grant_unique_idempotency_key",
            ),
        ]
        indexes = [
            # The consumption order of an account's spendable lots.
            models.Index(
                fields=["account", "priority", "expires_at", "id"],
                condition=Q(remaining__gt=0),
                name="ledger_grant_draw_order_idx",
            ),
            # Expiry sweeps: due lots still holding credits.
            models.Index(
                fields=["expires_at"],
                condition=Q(remaining__gt=0, expires_at__isnull=False),
                name="ledger_grant_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} (#{self.pk})"

    @property
    def is_active(self) -> bool:
        return self.expired_at is None and self.voided_at is None
