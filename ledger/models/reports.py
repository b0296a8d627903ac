"""Stored report results and the daily credits summary the dashboards read."""
from django.conf import settings
from django.db import models

from .parties import Workspace


class ReportResult(models.Model):
    """One run of a report (``ledger.reports``): its parameters, its result as JSON, how many
    findings it had, and who or what ran it."""

    name = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict)
    findings = models.IntegerField(default=0)
    generated_at = models.DateTimeField()
    duration_ms = models.IntegerField(default=0)
    actor = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-generated_at", "-id"]
        indexes = [models.Index(fields=["name", "-generated_at"], name="ledger_report_name_time_idx")]

    def __str__(self) -> str:
        return f"{self.name} at {self.generated_at:%Y-%m-%d %H:%M} ({self.findings} findings)"


class DailySummary(models.Model):
    """Credits moved in one workspace on one UTC day, and what was outstanding at its end.

    Rebuilt from the entries by ``services.summaries.daily_summary_refresh``; never edited.
    Business flows: ``granted`` counts grants and positive adjustments, ``refilled`` positive
    refills, ``spent`` net debits (refunds subtracted), ``expired`` expiries and refill resets,
    ``voided`` voids. Data migrations apart: ``migrated_in`` the lots a migration opened,
    ``migrated_out`` voids of those lots (a rollback). So ``outstanding = previous outstanding
    + granted + refilled + migrated_in - spent - expired - voided - migrated_out``.
    """

    day = models.DateField()
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    granted = models.BigIntegerField(default=0)
    spent = models.BigIntegerField(default=0)
    expired = models.BigIntegerField(default=0)
    refilled = models.BigIntegerField(default=0)
    voided = models.BigIntegerField(default=0)
    migrated_in = models.BigIntegerField(default=0)
    migrated_out = models.BigIntegerField(default=0)
    outstanding = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "daily summaries"
        constraints = [
            models.UniqueConstraint(fields=["day", "workspace"], name="ledger_dailysummary_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.day}"
