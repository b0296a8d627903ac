"""Who credits belong to: workspaces and, inside one, product users, identities and API keys.

Product users (``Customer``) are the product's own customers, known by the product's id and
email. Django's auth users are back-office staff; the two are never mixed.
"""
from django.db import models


class Workspace(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Customer(models.Model):
    """A product user: a customer of the product that holds and spends credits."""

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="customers")
    external_id = models.CharField(max_length=128, help_text="The product's own id for this user.")
    email = models.EmailField(max_length=254, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "product user"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], name="ledger_customer_unique_external_id"
            ),
        ]
        # The admin's account search matches a product user's id across workspaces.
        indexes = [models.Index(fields=["external_id"], name="ledger_customer_external_idx")]

    def __str__(self) -> str:
        return self.email


class Identity(models.Model):
    """An end customer of a workspace that groups several API keys."""

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="identities")
    external_id = models.CharField(max_length=256)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], name="ledger_identity_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class ApiKey(models.Model):
    """An API key of a workspace; it may belong to an identity."""

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="api_keys")
    identity = models.ForeignKey(
        Identity, on_delete=models.SET_NULL, null=True, blank=True, related_name="api_keys"
    )
    external_id = models.CharField(max_length=256, help_text="The key's id in the product.")
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], name="ledger_apikey_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id
