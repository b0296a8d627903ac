"""Per-workspace overrides of the credit policies, and the history of their changes."""
from django.conf import settings
from django.db import models

from .parties import Workspace

#: Policy fields and the settings that give their environment defaults.
POLICY_DEFAULTS = {
    "initial_credits": "CREDITS_INITIAL",
    "price_standard_per_second": "CREDITS_PRICE_STANDARD_PER_SECOND",
    "price_pro_per_second": "CREDITS_PRICE_PRO_PER_SECOND",
    "expiry_months": "CREDITS_EXPIRY_MONTHS",
    "reward_invite": "CREDITS_REWARD_INVITE",
    "reward_daily_signin": "CREDITS_REWARD_DAILY_SIGNIN",
    "reward_share": "CREDITS_REWARD_SHARE",
    "share_daily_cap": "CREDITS_SHARE_DAILY_CAP",
}


class WorkspacePolicy(models.Model):
    """Overrides for one workspace; an empty field means the environment default."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="policy")
    initial_credits = models.PositiveBigIntegerField(null=True, blank=True)
    price_standard_per_second = models.PositiveBigIntegerField(null=True, blank=True)
    price_pro_per_second = models.PositiveBigIntegerField(null=True, blank=True)
    expiry_months = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="0 means credits never expire."
    )
    reward_invite = models.PositiveBigIntegerField(null=True, blank=True)
    reward_daily_signin = models.PositiveBigIntegerField(null=True, blank=True)
    reward_share = models.PositiveBigIntegerField(null=True, blank=True)
    share_daily_cap = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "workspace policies"

    def __str__(self) -> str:
        return f"Policy of {self.workspace}"


class PolicyChange(models.Model):
    """One changed policy field: who changed it, when, why, from what to what."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="policy_changes")
    field = models.CharField(max_length=64)
    old_value = models.CharField(max_length=64, blank=True)
    new_value = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(max_length=200)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.workspace} {self.field}: {self.old_value or 'default'} -> {self.new_value or 'default'}"
