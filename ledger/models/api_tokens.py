"""API tokens of the products that call the REST API, and the responses kept per idempotency key.

A token belongs to one workspace and carries a set of abilities. Only the SHA-256 hash of
the secret is stored; the raw token is shown once, when it is issued.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q

from .parties import Workspace


class Ability(models.TextChoices):
    READ = "read", "Read balances and entries"
    DEBIT = "debit", "Debit and refund"
    GRANT = "grant", "Grant, void, sign up product users"
    COMPLETE_TASKS = "complete_tasks", "Create, complete and fail usage tasks"


class ApiToken(models.Model):
    """A bearer token of one workspace: ``prefix`` identifies it in lists and logs,
    ``token_hash`` (SHA-256 of the whole token) authenticates it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'billing worker'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    abilities = models.JSONField(default=list, help_text="Any of: read, debit, grant, complete_tasks.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_ability(self, ability: str) -> bool:
        return ability in self.abilities


class IdempotentResponse(models.Model):
    """The first response to a write made with an ``Idempotency-Key``: a retry with the same
    key and body gets it back unchanged; the same key with another request is refused."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(ApiToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.TextField(help_text="The JSON body as sent (text, so key order is kept).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="ledger_idempotentresponse_unique_key"),
            models.CheckConstraint(
                condition=Q(status_code__gte=100) & Q(status_code__lte=599),
                name="ledger_idempotentresponse_status_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] -> {self.status_code}"
